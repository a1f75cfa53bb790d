"""media.guard: which local files send_file may send (reference/mcp-tools.md §2.15 steps 2-7, §4),
and the per-app media quota.

Every case is a real file in a temporary directory (real symlinks, FIFOs, directories), with real
content: Pillow images, hand-built ISO/RIFF/Matroska containers, MPEG frames, OOXML zips, OLE2.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from media.guard import SENSITIVE_PATTERNS, GuardedFile, check_quota, check_upload_path, media_usage, upload_dirs
from media.models import MediaDirection, MediaFile
from media.sniff import DANGEROUS_EXTENSIONS, check_file_kind, detect, sniff
from tests.factories import make_app, make_device
from tests.unit.media.test_intake import (
    AAC,
    AMR,
    CSV,
    DOC,
    DOCX,
    EXE,
    GIF,
    HTML,
    JPEG,
    M4A,
    M4A_ISOM,
    MP3_BARE,
    MP3_FRAME,
    MP3_ID3,
    MP4,
    OPUS,
    PDF,
    PNG,
    SHELL,
    TEXT,
    THREE_GP,
    WEBP,
    XLSX,
    ZIP,
    _box,
    wav,
    zipped,
)
from whatsapp.errors import ErrorCode, WhatsAppError

# --- samples ----------------------------------------------------------------------------------


def riff(form: bytes, body: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + form + body


def iso_with_tracks(brand: bytes, *handlers: bytes) -> bytes:
    """An ISO media file with a movie box whose tracks have the given handler types."""

    def track(handler: bytes) -> bytes:
        hdlr = _box(b"hdlr", b"\0" * 4 + b"\0" * 4 + handler + b"\0" * 12 + b"track\0")
        return _box(b"trak", _box(b"tkhd", b"\0" * 84) + _box(b"mdia", _box(b"mdhd", b"\0" * 24) + hdlr))

    moov = _box(b"moov", _box(b"mvhd", b"\0" * 100) + b"".join(track(h) for h in handlers))
    return _box(b"ftyp", brand + b"\0\0\0\0" + brand + b"isom") + moov + _box(b"mdat", b"\0" * 64)


AVI = riff(b"AVI ", b"LIST" + struct.pack("<I", 4) + b"hdrl" + b"\0" * 64)
WAV = wav()
# EBML header with DocType "webm" (then "matroska"), as browsers and ffmpeg write them.
WEBM = (bytes.fromhex("1A45DFA3") + bytes([0x9F]) + bytes.fromhex("4286810142F7810142F2810442F381084282")
        + bytes([0x84]) + b"webm" + bytes.fromhex("4287810442858102") + b"\0" * 32)
MKV = WEBM.replace(b"\x84webm", b"\x88matroska")
MOV = iso_with_tracks(b"qt  ", b"vide", b"soun")
MP4_TRACKS = iso_with_tracks(b"isom", b"vide", b"soun")
M4A_TRACKS = iso_with_tracks(b"isom", b"soun")  # an isom-branded M4A: audio by its only track
MP3_JUNK = b"\x00\x11junk" * 100 + MP3_FRAME * 5  # no ID3; 600 bytes of junk before the first frame
OGG = OPUS
APK = zipped(("AndroidManifest.xml", b"\0"), ("classes.dex", b"dex\n035\0"), ("resources.arsc", b"\0"))
JAR = zipped(("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"), ("a/Main.class", b"\xca\xfe\xba\xbe"))
ODT = zipped(("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", b"<x/>"))
PPTX = zipped(("[Content_Types].xml", b"<Types/>"), ("ppt/presentation.xml", b"<x/>"))
BINARY = bytes(range(7, 0, -1)) * 50
DOCX_NAME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_NAME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@contextlib.contextmanager
def raises(code: ErrorCode) -> Iterator[pytest.ExceptionInfo[WhatsAppError]]:
    with pytest.raises(WhatsAppError) as info:
        yield info
    assert info.value.code is code, f"{info.value!r} is not {code.code}"


@pytest.fixture
def uploads(settings, tmp_path: Path) -> Path:
    """The only upload directory (UPLOAD_DIRS), beside an ``outside`` directory."""
    directory = tmp_path / "uploads"
    directory.mkdir()
    (tmp_path / "outside").mkdir()
    settings.UPLOAD_DIRS = [str(directory)]
    settings.MEDIA_ROOT = tmp_path / "store"
    return directory


def put(directory: Path, name: str, content: bytes = PNG) -> str:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return str(path)


# --- legitimate files of every kind -----------------------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "name", "content", "mime"),
    [
        ("image", "a.png", PNG, "image/png"),
        ("image", "a.jpg", JPEG, "image/jpeg"),
        ("image", "a.jpeg", JPEG, "image/jpeg"),
        ("image", "a.gif", GIF, "image/gif"),
        ("image", "a.webp", WEBP, "image/webp"),
        ("video", "clip.mp4", MP4, "video/mp4"),
        ("video", "clip.mp4", MP4_TRACKS, "video/mp4"),
        ("video", "clip.3gp", THREE_GP, "video/3gpp"),
        ("video", "clip.mov", MOV, "video/quicktime"),
        ("video", "clip.webm", WEBM, "video/webm"),
        ("video", "clip.mkv", MKV, "video/x-matroska"),
        ("video", "clip.avi", AVI, "video/x-msvideo"),
        ("audio", "song.mp3", MP3_BARE, "audio/mpeg"),  # untagged: frame sync after padding
        ("audio", "song.mp3", MP3_JUNK, "audio/mpeg"),
        ("audio", "untitled", MP3_FRAME * 3, "audio/mpeg"),  # no name, no tag: frames alone
        ("audio", "song.mp3", MP3_ID3, "audio/mpeg"),
        ("audio", "voice.m4a", M4A, "audio/mp4"),
        ("audio", "voice.m4a", M4A_ISOM, "audio/mp4"),  # isom brand, no tracks: the name says audio
        ("audio", "voice.mp4", M4A_TRACKS, "audio/mp4"),  # an audio-only MP4: its tracks say audio
        ("audio", "voice.aac", AAC, "audio/aac"),
        ("audio", "voice.ogg", OGG, "audio/ogg"),
        ("audio", "voice.opus", OGG, "audio/ogg"),
        ("audio", "take.wav", WAV, "audio/wav"),
        ("audio", "memo.amr", AMR, "audio/amr"),
        ("document", "report.pdf", PDF, "application/pdf"),
        ("document", "letter.docx", DOCX, DOCX_NAME),
        ("document", "sheet.xlsx", XLSX, XLSX_NAME),
        ("document", "deck.pptx", PPTX, "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ("document", "old.doc", DOC, "application/msword"),  # legacy Office (OLE2)
        ("document", "old.xls", DOC, "application/vnd.ms-excel"),
        ("document", "compound", DOC, "application/x-ole-storage"),
        ("document", "text.odt", ODT, "application/vnd.oasis.opendocument.text"),
        ("document", "notes.txt", TEXT, "text/plain"),
        ("document", "data.csv", CSV, "text/csv"),
        ("document", "data.CSV", TEXT, "text/csv"),  # text content: the name tells CSV from plain text
        ("document", "notes.md", TEXT, "text/markdown"),
        ("document", "archive.zip", ZIP, "application/zip"),
        ("document", "photo.png", PNG, "image/png"),  # media sent uncompressed
        ("document", "take.wav", WAV, "audio/wav"),
        ("document", "clip.avi", AVI, "video/x-msvideo"),
        ("document", "blob.bin", BINARY, "application/octet-stream"),
        ("document", "report.exe.pdf", PDF, "application/pdf"),  # only the last extension decides
    ],
)
def test_legitimate_files_pass_with_their_real_type(uploads, media_type, name, content, mime):
    path = put(uploads, name, content)
    guarded = check_upload_path(path, media_type)
    assert guarded == GuardedFile(path=path, real_path=os.path.realpath(path), size=len(content), mime=mime,
                                  file_name=name)
    assert guarded.content == content


def test_the_type_is_the_content_s_not_the_name_s(uploads):
    assert check_upload_path(put(uploads, "photo.jpg", PNG), "image").mime == "image/png"
    assert check_upload_path(put(uploads, "scan.txt", PDF), "document").mime == "application/pdf"
    assert check_upload_path(put(uploads, "song.wav", MP3_FRAME * 4), "audio").mime == "audio/mpeg"


@pytest.mark.parametrize(
    ("content", "mime"),
    [(WEBP, "image/webp"), (WAV, "audio/wav"), (AVI, "video/x-msvideo")],
)
def test_riff_is_told_apart_by_its_form_type(content, mime):
    assert sniff(content) == mime


def test_iso_media_is_judged_by_its_tracks():
    assert sniff(M4A_TRACKS) == "audio/mp4"
    assert sniff(MP4_TRACKS) == "video/mp4"
    assert sniff(iso_with_tracks(b"3gp4", b"vide")) == "video/3gpp"
    assert sniff(iso_with_tracks(b"3gp4", b"soun")) == "audio/mp4"
    assert detect(M4A_ISOM, "clip.mp4") == "video/mp4"  # no tracks, no audio name: libmagic's answer


def test_zips_are_judged_by_what_they_hold():
    assert sniff(DOCX) == DOCX_NAME
    assert sniff(zipped(("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<x/>"))) == XLSX_NAME
    assert sniff(ZIP) == "application/zip"
    assert sniff(APK) == "application/vnd.android.package-archive"
    assert sniff(JAR) == "application/java-archive"
    assert sniff(b"PK\x03\x04 broken") in {"application/zip", "application/octet-stream"}


def test_random_bytes_are_not_taken_for_mp3():
    noise = bytes((index * 7919 + 13) % 256 for index in range(20000))
    assert sniff(noise) != "audio/mpeg"
    assert sniff(b"\xff\xfb" + b"\0" * 100) != "audio/mpeg"  # one lone frame header is not a stream


# --- content that does not match --------------------------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "name", "content", "detected"),
    [
        ("image", "a.png", PDF, "application/pdf"),
        ("image", "a.png", TEXT, "text/plain"),
        ("image", "a.webp", WAV, "audio/wav"),  # RIFF, but not WEBP
        ("image", "a.png", MP4, "video/mp4"),
        ("video", "clip.mp4", PNG, "image/png"),
        ("video", "clip.mp4", BINARY, "application/octet-stream"),  # no container signature
        ("video", "clip.mp4", MP3_FRAME * 4, "audio/mpeg"),
        ("video", "clip.avi", WAV, "audio/wav"),
        ("video", "clip.mp4", M4A, "audio/mp4"),  # an M4A is not a video
        ("video", "clip.mp4", M4A_TRACKS, "audio/mp4"),
        ("audio", "song.mp3", JPEG, "image/jpeg"),
        ("audio", "song.wav", AVI, "video/x-msvideo"),
        ("audio", "song.webp", WEBP, "image/webp"),
        ("audio", "song.mp4", MP4_TRACKS, "video/mp4"),  # a video is not audio
        ("audio", "song.mp3", BINARY, "application/octet-stream"),
        ("audio", "song.mp3", TEXT, "text/plain"),
        ("document", "page.html", HTML, "text/html"),  # active content
    ],
)
def test_content_that_is_not_the_declared_type_is_a_mismatch(uploads, media_type, name, content, detected):
    with raises(ErrorCode.MEDIA_MAGIC_MISMATCH) as info:
        check_upload_path(put(uploads, name, content), media_type)
    assert info.value.details == {"media_type": media_type, "detected": detected}


def test_an_empty_file_matches_nothing(uploads):
    for media_type in ("image", "video", "audio", "document"):
        with raises(ErrorCode.MEDIA_MAGIC_MISMATCH):
            check_upload_path(put(uploads, "empty.txt", b""), media_type)


@pytest.mark.parametrize(("name", "content"), [("harmless.pdf", EXE), ("notes.txt", SHELL), ("stuff.zip", APK),
                                                ("lib.zip", JAR)])
def test_executable_content_is_refused_whatever_its_name(uploads, name, content):
    with raises(ErrorCode.MEDIA_DANGEROUS_EXTENSION) as info:
        check_upload_path(put(uploads, name, content), "document")
    assert "detected" in info.value.details


def test_check_file_kind_refuses_unknown_media_types():
    with raises(ErrorCode.VALIDATION_ERROR):
        check_file_kind("sticker", WEBP)


# --- the argument -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "   ", "relative/photo.png", "photo.png", "./photo.png", "~/photo.png",
                                  "/tmp/" + "a" * 500 + ".png", "/tmp/photo.png\x00.exe", "/tmp/\x00"])
def test_malformed_paths_are_validation_errors(uploads, path):
    with raises(ErrorCode.VALIDATION_ERROR) as info:
        check_upload_path(path, "image")
    assert info.value.details == {"field": "file_path"}


def test_nul_bytes_are_refused_before_the_filesystem_is_touched(uploads):
    real = put(uploads, "photo.png")
    with raises(ErrorCode.VALIDATION_ERROR) as info:
        check_upload_path(real + "\x00.exe", "image")
    assert "NUL" in info.value.message


@pytest.mark.parametrize("media_type", ["", "sticker", "Image", "text", None])
def test_an_unknown_media_type_is_a_validation_error(uploads, media_type):
    with raises(ErrorCode.VALIDATION_ERROR) as info:
        check_upload_path(put(uploads, "photo.png"), media_type)
    assert info.value.details["field"] == "media_type"


# --- confinement ------------------------------------------------------------------------------


def test_a_file_outside_the_upload_directories_is_refused(uploads, tmp_path):
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL) as info:
        check_upload_path(put(tmp_path / "outside", "photo.png"), "image")
    assert info.value.details["allowed_dirs"] == [str(uploads)]


def test_dot_dot_is_resolved_before_the_check(uploads, tmp_path):
    put(tmp_path / "outside", "photo.png")
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(f"{uploads}/../outside/photo.png", "image")
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(f"{uploads}/sub/../../outside/photo.png", "image")
    inside = put(uploads, "photo.png")
    guarded = check_upload_path(f"{uploads}/sub/../photo.png", "image")
    assert guarded.real_path == inside


def test_a_symlink_out_of_the_upload_directory_is_refused(uploads, tmp_path):
    target = put(tmp_path / "outside", "photo.png")
    (uploads / "link.png").symlink_to(target)
    (uploads / "dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(str(uploads / "link.png"), "image")
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(str(uploads / "dir" / "photo.png"), "image")


def test_a_chain_of_symlinks_is_followed_to_its_end(uploads, tmp_path):
    target = put(tmp_path / "outside", "photo.png")
    (uploads / "b.png").symlink_to(target)
    (uploads / "a.png").symlink_to(uploads / "b.png")
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(str(uploads / "a.png"), "image")


def test_a_symlink_within_the_upload_directory_is_fine(uploads):
    target = put(uploads, "store/abc123", PNG)
    (uploads / "holiday.png").symlink_to(target)
    guarded = check_upload_path(str(uploads / "holiday.png"), "image")
    assert (guarded.real_path, guarded.file_name, guarded.mime) == (target, "holiday.png", "image/png")


def test_a_symlinked_upload_directory_is_resolved_too(settings, tmp_path):
    real = tmp_path / "real-uploads"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    settings.UPLOAD_DIRS = [str(tmp_path / "alias")]
    assert check_upload_path(put(real, "photo.png"), "image").mime == "image/png"
    assert check_upload_path(str(tmp_path / "alias" / "photo.png"), "image").real_path == str(real / "photo.png")


def test_directories_are_compared_by_components_not_string_prefix(uploads, tmp_path):
    sibling = Path(str(uploads) + "-evil")
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(put(sibling, "photo.png"), "image")


def test_a_symlink_loop_is_not_a_file(uploads):
    (uploads / "loop.png").symlink_to(uploads / "loop2.png")
    (uploads / "loop2.png").symlink_to(uploads / "loop.png")
    with pytest.raises(WhatsAppError) as info:
        check_upload_path(str(uploads / "loop.png"), "image")
    assert info.value.code in (ErrorCode.MEDIA_FILE_NOT_FOUND, ErrorCode.MEDIA_PATH_TRAVERSAL)


def test_the_defaults_are_the_media_directory_and_tmp(settings):
    outside_tmp = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        settings.UPLOAD_DIRS = []
        settings.MEDIA_ROOT = outside_tmp
        assert upload_dirs() == [os.path.realpath(outside_tmp / "media"), os.path.realpath("/tmp")]
        # DATA_DIR (= MEDIA_ROOT by default) holds the database and the secret key: not an upload directory.
        with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
            check_upload_path(put(outside_tmp, "photo.png"), "image")
        assert check_upload_path(put(outside_tmp / "media", "photo.png"), "image").mime == "image/png"
        with tempfile.NamedTemporaryFile(dir="/tmp", suffix=".png") as handle:
            handle.write(PNG)
            handle.flush()
            assert check_upload_path(handle.name, "image").size == len(PNG)
    finally:
        for path in sorted(outside_tmp.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        outside_tmp.rmdir()


@pytest.mark.django_db
def test_inside_the_media_directory_an_app_names_only_its_own_files(settings, tmp_path):
    settings.UPLOAD_DIRS = []
    settings.MEDIA_ROOT = tmp_path
    app, other = make_app(), make_app()
    own = put(tmp_path / "media" / str(app.pk), "dev-1.png")
    theirs = put(tmp_path / "media" / str(other.pk), "dev-2.png")
    assert check_upload_path(own, "image", app=app).mime == "image/png"
    assert check_upload_path(theirs, "image").mime == "image/png"  # no app: not a tenant question
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(theirs, "image", app=app)
    (tmp_path / "media" / str(app.pk) / "sneaky.png").symlink_to(theirs)
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(str(tmp_path / "media" / str(app.pk) / "sneaky.png"), "image", app=app)


# --- sensitive names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["session.db", "messages.db", "audit.db", "Session.DB", "MESSAGES.db", "x.db-wal", "x.db-shm", "store.DB-WAL",
     "server.key", "SERVER.KEY", "cert.pem", "prod.env", ".env", "my_credentials.png", "Credentials.pdf",
     "AWS-CREDENTIALS.txt", "gateway.sqlite3", "gateway.sqlite3-wal", "secret_key", "id_rsa", "id_ed25519.pub"],
)
def test_sensitive_names_are_refused(uploads, name):
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL) as info:
        check_upload_path(put(uploads, name, TEXT), "document")
    assert "pattern" in info.value.details


def test_a_path_mentioning_credentials_is_refused(uploads):
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(put(uploads, "Credentials/photo.png"), "image")


def test_a_harmless_link_to_a_sensitive_file_is_refused(uploads):
    target = put(uploads, "session.db", TEXT)
    (uploads / "notes.txt").symlink_to(target)
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(str(uploads / "notes.txt"), "document")


def test_the_reference_s_sensitive_list_is_covered():
    assert set(SENSITIVE_PATTERNS) >= {"session.db", "messages.db", "audit.db", "*.db-wal", "*.db-shm", "*.key",
                                       "*.pem", "*.env", "*credentials*"}


# --- dangerous extensions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["setup.exe", "SETUP.EXE", "setup.Exe", "invoice.pdf.exe", "INVOICE.PDF.EXE", "photo.jpg.scr", "evil.exe.",
     "evil.exe ", "evil.exe. . ", "run.bat", "run.cmd", "x.com", "x.pif", "x.msi", "x.msp", "x.ps1", "x.psm1",
     "x.psd1", "x.vbs", "x.vbe", "x.wsf", "x.wsh", "x.sh", "x.bash", "x.csh", "x.ksh", "x.dll", "x.sys", "x.drv",
     "x.ocx", "x.cab", "x.inf", "x.reg", "x.lnk", "x.url", "x.hta", "x.cpl", "x.so", "x.jar", "x.apk", "x.ipa",
     "x.dmg", "x.pkg", "x.deb", "x.rpm", "x.scf", "x.action", "x.application", "x.gadget", "x.msu", "x.pcw",
     "x.theme", "x.themepack", "x.workflow"],
)
def test_dangerous_extensions_are_refused(uploads, name):
    with raises(ErrorCode.MEDIA_DANGEROUS_EXTENSION) as info:
        check_upload_path(put(uploads, name, PDF), "document")
    assert info.value.details["extension"] == name.rstrip(". ").rsplit(".", 1)[-1].lower()


def test_the_blocked_list_is_the_union_of_the_reference_and_the_seed():
    reference = {".exe", ".bat", ".cmd", ".com", ".scr", ".pif", ".msi", ".msp", ".ps1", ".psm1", ".psd1", ".vbs",
                 ".vbe", ".wsf", ".wsh", ".sh", ".bash", ".csh", ".ksh", ".dll", ".sys", ".drv", ".ocx", ".cab",
                 ".inf", ".reg", ".lnk", ".url", ".hta", ".cpl"}
    seed = {".exe", ".bat", ".ps1", ".sh", ".dll", ".so", ".cmd", ".com", ".pif", ".scr", ".vbs", ".msi", ".jar",
            ".apk", ".ipa", ".dmg", ".pkg", ".deb", ".rpm", ".sys", ".drv", ".ocx", ".cpl", ".msp", ".lnk", ".reg",
            ".inf", ".scf", ".action", ".application", ".gadget", ".msu", ".pcw", ".theme", ".themepack",
            ".workflow"}
    assert {extension[1:] for extension in reference | seed} <= DANGEROUS_EXTENSIONS


def test_a_harmless_name_linking_to_an_executable_name_is_refused(uploads):
    target = put(uploads, "payload.exe", PDF)
    (uploads / "report.pdf").symlink_to(target)
    with raises(ErrorCode.MEDIA_DANGEROUS_EXTENSION):
        check_upload_path(str(uploads / "report.pdf"), "document")


# --- existence and size -----------------------------------------------------------------------


def test_a_missing_file_is_not_found(uploads):
    with raises(ErrorCode.MEDIA_FILE_NOT_FOUND):
        check_upload_path(str(uploads / "nope.png"), "image")
    (uploads / "dangling.png").symlink_to(uploads / "gone.png")
    with raises(ErrorCode.MEDIA_FILE_NOT_FOUND):
        check_upload_path(str(uploads / "dangling.png"), "image")


def test_a_directory_or_fifo_is_not_a_file(uploads):
    (uploads / "folder.png").mkdir()
    with raises(ErrorCode.MEDIA_FILE_NOT_FOUND):
        check_upload_path(str(uploads / "folder.png"), "image")
    os.mkfifo(uploads / "pipe.png")  # opening it must not block
    with raises(ErrorCode.MEDIA_FILE_NOT_FOUND):
        check_upload_path(str(uploads / "pipe.png"), "image")
    with raises(ErrorCode.MEDIA_FILE_NOT_FOUND):
        check_upload_path(str(uploads), "document")


def test_the_size_limit_is_exact(uploads, settings):
    settings.MEDIA_MAX_BYTES = len(PNG)
    assert check_upload_path(put(uploads, "fits.png", PNG), "image").size == len(PNG)
    with raises(ErrorCode.MEDIA_TOO_LARGE) as info:
        check_upload_path(put(uploads, "big.png", PNG + b"\0"), "image")
    assert info.value.details["size"] == len(PNG) + 1
    assert info.value.details["max_bytes"] == len(PNG)


# --- the order of the checks ------------------------------------------------------------------


def test_checks_run_in_the_reference_order(uploads, tmp_path, settings):
    settings.MEDIA_MAX_BYTES = 10
    # outside and sensitive and dangerous and missing: confinement first
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(str(tmp_path / "outside" / "session.db.exe"), "image")
    # sensitive and dangerous: sensitive first
    with raises(ErrorCode.MEDIA_PATH_TRAVERSAL):
        check_upload_path(str(uploads / "credentials.exe"), "image")
    # dangerous and missing: the extension first
    with raises(ErrorCode.MEDIA_DANGEROUS_EXTENSION):
        check_upload_path(str(uploads / "missing.exe"), "image")
    # too large and not an image: the size first
    with raises(ErrorCode.MEDIA_TOO_LARGE):
        check_upload_path(put(uploads, "big.png", PDF), "image")


# --- quota ------------------------------------------------------------------------------------


def stored(device, size: int, name: str) -> MediaFile:
    return MediaFile.objects.create(app=device.app, device=device, path=f"media/{device.app_id}/{name}",
                                    direction=MediaDirection.INBOUND, mime_type="image/png", size=size)


@pytest.mark.django_db
def test_the_quota_counts_the_app_s_files_and_the_incoming_size(settings):
    settings.MEDIA_QUOTA_MB = 1
    quota = 1024 * 1024
    device, other = make_device(), make_device()
    stored(device, quota - 100, "a.png")
    stored(other, quota, "b.png")  # another app's media counts for that app only
    assert media_usage(device.app) == quota - 100
    check_quota(device.app, 100)
    with raises(ErrorCode.MEDIA_QUOTA_EXCEEDED) as info:
        check_quota(device.app, 101)
    assert info.value.details == {"used_bytes": quota - 100, "incoming_bytes": 101, "quota_bytes": quota}
    check_quota(make_app(), quota)


@pytest.mark.django_db
def test_a_full_quota_refuses_even_an_unknown_size(settings):
    settings.MEDIA_QUOTA_MB = 1
    device = make_device()
    stored(device, 1024 * 1024 + 1, "a.png")
    with raises(ErrorCode.MEDIA_QUOTA_EXCEEDED):
        check_quota(device.app, 0)
