"""media.intake: base64 decoding, URL fetching behind the SSRF guard, and content sniffing.

Samples are real files (Pillow images, hand-built MP4/OGG/MP3/AMR containers, OOXML zips), the
fetch tests talk to a real HTTP server on 127.0.0.1, and the only seam replaced is the resolver.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import io
import ipaddress
import socket
import ssl
import struct
import threading
import time
import wave
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from media import fetch as fetch_module
from media.intake import MIME_ALLOW_LIST, FetchedMedia, check_media, decode_base64, fetch_url
from whatsapp.errors import ErrorCode, WhatsAppError


@contextlib.contextmanager
def raises(code: ErrorCode) -> Iterator[pytest.ExceptionInfo[WhatsAppError]]:
    """pytest.raises for one WhatsAppError code; ``.value`` is the error."""
    with pytest.raises(WhatsAppError) as info:
        yield info
    assert info.value.code is code, f"{info.value!r} is not {code.code}"


# --- samples ----------------------------------------------------------------------------------


def image(fmt: str, mode: str = "RGB") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (16, 16), (200, 10, 10) if mode == "RGB" else (200, 10, 10, 128)).save(buffer, fmt)
    return buffer.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def iso_bmff(major: bytes, *compatible: bytes) -> bytes:
    """An ISO base media file (MP4, M4A, 3GP): ftyp, free and mdat boxes."""
    return _box(b"ftyp", major + b"\0\0\0\0" + b"".join(compatible)) + _box(b"free", b"") + _box(b"mdat", b"\0" * 64)


def ogg_opus() -> bytes:
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HI", 312, 48000) + b"\0\0\0"
    page = b"OggS" + bytes([0, 2]) + b"\0" * 8 + struct.pack("<II", 1, 0) + b"\0\0\0\0" + bytes([1, len(head)])
    return page + head


MP3_FRAME = bytes([0xFF, 0xFB, 0x90, 0x64]) + b"\x55" * 413


def wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    return buffer.getvalue()


def zipped(*entries: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def ooxml(part: str) -> bytes:
    types = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
    return zipped(("[Content_Types].xml", types), ("_rels/.rels", b"<Relationships/>"), (part, b"<x/>"))


PNG, JPEG, WEBP = image("PNG"), image("JPEG"), image("WEBP", "RGBA")
MP4 = iso_bmff(b"isom", b"isom", b"iso2", b"mp41")
M4A = iso_bmff(b"M4A ", b"M4A ", b"mp42", b"isom")
M4A_ISOM = iso_bmff(b"mp42", b"mp42", b"isom")  # what many encoders write for .m4a: sniffs as video/mp4
THREE_GP = iso_bmff(b"3gp4", b"3gp4", b"isom")
OPUS = ogg_opus()
MP3_ID3 = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\0" * 10 + MP3_FRAME * 4
MP3_BARE = b"\0" * 16 + MP3_FRAME * 4  # no ID3, padding before the first frame: libmagic can't tell
AMR = b"#!AMR\n" + b"\x3c" + b"\0" * 31
AAC = (bytes([0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC]) + b"\0" * 9) * 8
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DOCX = ooxml("word/document.xml")
XLSX = ooxml("xl/workbook.xml")
ZIP = zipped(("notes.txt", b"hello"))
DOC = bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504  # an OLE2 compound file (legacy Office)
CSV = b"name,age,city\nalice,30,paris\nbob,25,rome\n"
TEXT = b"Meeting notes\nnothing to see here\n"
GIF = image("GIF")
EXE = b"MZ\x90\x00" + b"\0" * 56 + struct.pack("<I", 64) + b"PE\0\0" + b"\0" * 64
SHELL = b"#!/bin/sh\nrm -rf ~\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


# --- decode_base64 ----------------------------------------------------------------------------


def test_decodes_standard_base64():
    assert decode_base64(base64.b64encode(PNG).decode()) == (PNG, None)


def test_decodes_urlsafe_alphabet_without_padding():
    data = bytes(range(256)) * 3 + b"x"
    encoded = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert "-" in encoded
    assert "_" in encoded
    assert decode_base64(encoded) == (data, None)


def test_tolerates_line_breaks_and_whitespace():
    encoded = base64.encodebytes(JPEG).decode()  # wrapped at 76 columns
    assert "\n" in encoded
    assert decode_base64("  " + encoded.replace("\n", "\r\n") + "\t")[0] == JPEG


def test_data_uri_prefix_yields_its_mime_type():
    uri = "data:image/PNG;name=x.png;base64," + base64.b64encode(PNG).decode()
    assert decode_base64(uri) == (PNG, "image/png")
    assert decode_base64("data:;base64,aGk=") == (b"hi", None)


@pytest.mark.parametrize(
    "garbage",
    [
        "not base64!",
        "aGVsbG8=aGVsbG8=",  # padding in the middle
        "aGVsb",  # 5 characters can never be base64
        "aGVsbG8*",
        "aGVsbG8é",
        "====",
        "data:image/png,aGVsbG8=",  # a data URI that is not base64
        "data:image/png;base64",  # no comma
    ],
)
def test_garbage_is_a_validation_error_naming_the_field(garbage):
    with raises(ErrorCode.VALIDATION_ERROR) as info:
        decode_base64(garbage, field="media_b64")
    assert info.value.details == {"field": "media_b64"}


@pytest.mark.parametrize("value", ["", "   \n", None, 42, b"aGk="])
def test_empty_or_non_string_is_a_validation_error(value):
    with raises(ErrorCode.VALIDATION_ERROR):
        decode_base64(value)


def test_size_limit_is_exact():
    assert decode_base64(base64.b64encode(b"x" * 10).decode(), max_bytes=10)[0] == b"x" * 10
    with raises(ErrorCode.MEDIA_TOO_LARGE) as info:
        decode_base64(base64.b64encode(b"x" * 11).decode(), max_bytes=10)
    assert info.value.details == {"field": "data_base64", "max_bytes": 10, "size": 11}


def test_default_base64_limit_is_the_setting(settings):
    settings.MEDIA_MAX_BYTES = 4
    with raises(ErrorCode.MEDIA_TOO_LARGE):
        decode_base64(base64.b64encode(b"12345").decode())


def test_oversize_input_is_refused_before_decoding():
    # Invalid characters would be a VALIDATION_ERROR if this were decoded: the size check came first.
    with raises(ErrorCode.MEDIA_TOO_LARGE):
        decode_base64("!" * 1_000_000, max_bytes=1000)
    with raises(ErrorCode.MEDIA_TOO_LARGE):
        decode_base64("!!!!" * 300, max_bytes=100)


# --- check_media: accepted -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content", "declared", "file_name", "expected"),
    [
        ("image", PNG, "image/png", "a.png", "image/png"),
        ("image", JPEG, "image/jpg", None, "image/jpeg"),
        ("image", JPEG, None, None, "image/jpeg"),
        ("image", WEBP, None, "photo.webp", "image/webp"),
        ("sticker", WEBP, "image/webp", None, "image/webp"),
        ("video", MP4, "video/mp4", "clip.mp4", "video/mp4"),
        ("video", THREE_GP, None, "clip.3gp", "video/3gpp"),
        ("audio", OPUS, "audio/ogg; codecs=opus", None, "audio/ogg"),
        ("audio", OPUS, "audio/opus", None, "audio/ogg"),
        ("audio", MP3_ID3, "audio/mpeg", None, "audio/mpeg"),
        ("audio", MP3_BARE, "audio/mp3", None, "audio/mpeg"),
        ("audio", MP3_BARE, None, "song.mp3", "audio/mpeg"),
        ("audio", M4A, "audio/x-m4a", None, "audio/mp4"),
        ("audio", M4A_ISOM, "audio/mp4", "voice.m4a", "audio/mp4"),
        ("audio", M4A, None, None, "audio/mp4"),
        ("audio", AMR, None, None, "audio/amr"),
        ("audio", AAC, "audio/aac", None, "audio/aac"),
        ("document", PDF, "application/pdf", "report.pdf", "application/pdf"),
        ("document", PDF, None, None, "application/pdf"),
        ("document", DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("document", ZIP, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "b.xlsx",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),  # an OOXML that sniffs as zip
        ("document", XLSX, None, None, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("document", DOC, "application/msword", "old.doc", "application/msword"),
        ("document", ZIP, "application/x-zip-compressed", "stuff.zip", "application/zip"),
        ("document", CSV, "text/csv", "data.csv", "text/csv"),
        ("document", CSV, None, "data.csv", "text/csv"),
        ("document", CSV, "application/octet-stream", None, "text/csv"),
        ("document", TEXT, "text/plain", "notes.txt", "text/plain"),
        ("document", TEXT, "text/markdown", "notes.md", "text/markdown"),
        ("document", wav(), None, "take.wav", "audio/wav"),
        ("document", PNG, "image/png", "uncompressed.png", "image/png"),
        ("document", gzip.compress(b"x" * 100), None, "x.gz", "application/gzip"),
        ("document", bytes(range(7, 0, -1)) * 50, None, "blob.bin", "application/octet-stream"),
    ],
)
def test_accepts_legitimate_files(kind, content, declared, file_name, expected):
    assert check_media(kind, content, declared_mime=declared, file_name=file_name) == expected


def test_every_allow_list_entry_is_canonical():
    from media.sniff import canonical_mime

    for kind, allowed in MIME_ALLOW_LIST.items():
        assert {canonical_mime(mime) for mime in allowed} == allowed, kind
    assert set(MIME_ALLOW_LIST) == {"image", "video", "audio", "sticker", "document"}


# --- check_media: refused --------------------------------------------------------------------


def test_empty_content_is_a_validation_error():
    with raises(ErrorCode.VALIDATION_ERROR):
        check_media("image", b"", declared_mime="image/png", file_name=None)


def test_a_kind_without_media_is_a_validation_error():
    with raises(ErrorCode.VALIDATION_ERROR) as info:
        check_media("text", PNG, declared_mime=None, file_name=None)
    assert info.value.details["field"] == "type"


@pytest.mark.parametrize(
    "file_name",
    ["setup.exe", "INVOICE.PDF.EXE", "evil.exe.", "evil.exe ", "C:\\Users\\x\\run.bat", "a/b/c.ps1", "x.sh",
     "payload.scr", "app.apk", "macro.vbs", "installer.msi", "lib.dll", "tool.jar", "link.lnk", "x.js"],
)
def test_dangerous_extensions_are_refused(file_name):
    with raises(ErrorCode.MEDIA_DANGEROUS_EXTENSION) as info:
        check_media("document", PDF, declared_mime="application/pdf", file_name=file_name)
    assert info.value.details["field"] == "file_name"


def test_a_harmless_name_containing_a_dangerous_word_is_fine():
    assert check_media("document", PDF, declared_mime=None, file_name="exe.bat.notes.pdf") == "application/pdf"


@pytest.mark.parametrize(("content", "declared"), [(EXE, None), (EXE, "application/octet-stream"), (SHELL, None),
                                                   (SHELL, "text/plain")])
def test_executable_content_is_refused_whatever_its_name(content, declared):
    with raises(ErrorCode.MEDIA_DANGEROUS_EXTENSION) as info:
        check_media("document", content, declared_mime=declared, file_name="harmless.txt")
    assert info.value.details["field"] == "media"


@pytest.mark.parametrize(
    ("kind", "content", "declared"),
    [
        ("image", GIF, "image/gif"),  # declared type off the list
        ("image", GIF, None),  # sniffed type off the list
        ("image", PDF, None),
        ("sticker", PNG, "image/png"),
        ("video", OPUS, None),
        ("audio", wav(), "audio/wav"),
        ("audio", MP4, None),
        ("document", HTML, "text/html"),
        ("document", HTML, None),
        ("document", PDF, "application/x-made-up"),
    ],
)
def test_types_off_the_allow_list_are_validation_errors(kind, content, declared):
    with raises(ErrorCode.VALIDATION_ERROR) as info:
        check_media(kind, content, declared_mime=declared, file_name=None)
    assert info.value.details["field"] == "mime_type"
    assert info.value.details["allowed"] == sorted(MIME_ALLOW_LIST[kind])


@pytest.mark.parametrize(
    ("kind", "content", "declared", "detected"),
    [
        ("image", JPEG, "image/png", "image/jpeg"),
        ("image", b"\0" * 100, "image/jpeg", "application/octet-stream"),
        ("image", TEXT, "image/png", "text/plain"),
        ("document", PNG, "application/pdf", "image/png"),
        ("document", XLSX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("document", PDF, "text/csv", "application/pdf"),
        ("audio", PNG, "audio/mpeg", "image/png"),
        ("audio", M4A, "audio/ogg", "audio/mp4"),
        ("video", M4A, "video/mp4", "audio/mp4"),
    ],
)
def test_content_contradicting_the_declared_type_is_a_mismatch(kind, content, declared, detected):
    with raises(ErrorCode.MEDIA_MAGIC_MISMATCH) as info:
        check_media(kind, content, declared_mime=declared, file_name=None)
    assert info.value.details == {"field": "mime_type", "declared": declared, "detected": detected}


# --- fetch_url: a real local server -----------------------------------------------------------

Route = Callable[[BaseHTTPRequestHandler], None]


def respond(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    return respond(status, headers={"Location": location})


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 whose routes a test sets; it records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Host header)
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Host")))
                owner.routes.get(self.path.split("?")[0], respond(404, b"not found"))(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = LocalServer()
    yield local
    local.close()


@pytest.fixture
def private_ok(settings):
    settings.ALLOW_PRIVATE_URLS = True
    return settings


@pytest.fixture
def resolver(monkeypatch):
    """Replace the module's resolver seam with a table; records each lookup."""
    table: dict[str, list[str]] = {}
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        answer = table[host]
        if isinstance(answer, Exception):
            raise answer
        return answer.pop(0) if answer and isinstance(answer[0], list) else answer

    monkeypatch.setattr(fetch_module, "_resolve", resolve)
    return table, lookups


def test_fetches_a_body_with_its_type_and_name(server, private_ok):
    server.routes["/files/report%20q1.pdf"] = respond(200, PDF, {"Content-Type": "Application/PDF; charset=binary"})
    fetched = fetch_url(server.url("/files/report%20q1.pdf?sig=abc"))
    assert fetched == FetchedMedia(content=PDF, mime_type="application/pdf", file_name="report q1.pdf",
                                   final_url=server.url("/files/report%20q1.pdf?sig=abc"))
    assert check_media("document", fetched.content, declared_mime=fetched.mime_type,
                       file_name=fetched.file_name) == "application/pdf"


def test_content_disposition_names_the_file(server, private_ok):
    server.routes["/dl"] = respond(200, PNG, {"Content-Disposition": "attachment; filename=\"../../x.png\"; "
                                              "filename*=UTF-8''%C3%BCber%20photo.png"})
    fetched = fetch_url(server.url("/dl"))
    assert (fetched.content, fetched.mime_type, fetched.file_name) == (PNG, None, "über photo.png")


def test_no_name_when_the_path_ends_in_a_slash(server, private_ok):
    server.routes["/dir/"] = respond(200, b"x")
    assert fetch_url(server.url("/dir/")).file_name is None


def test_follows_up_to_three_redirects_relative_and_absolute(server, private_ok):
    server.routes["/r1"] = redirect(server.url("/r2", host="localhost"), 301)
    server.routes["/r2"] = redirect("r3", 303)
    server.routes["/r3"] = redirect("/final.jpg", 307)
    server.routes["/final.jpg"] = respond(200, JPEG, {"Content-Type": "image/jpeg"})
    fetched = fetch_url(server.url("/r1"))
    assert fetched.content == JPEG
    assert fetched.final_url == server.url("/final.jpg", host="localhost")
    assert [path for path, _ in server.requests] == ["/r1", "/r2", "/r3", "/final.jpg"]


def test_a_fourth_redirect_is_a_fetch_failure(server, private_ok):
    for hop in range(4):
        server.routes[f"/r{hop}"] = redirect(f"/r{hop + 1}")
    server.routes["/r4"] = respond(200, b"never")
    with raises(ErrorCode.MEDIA_FETCH_FAILED) as info:
        fetch_url(server.url("/r0"))
    assert info.value.details["reason"] == "too_many_redirects"
    assert [path for path, _ in server.requests] == ["/r0", "/r1", "/r2", "/r3"]


def test_a_redirect_to_another_scheme_is_forbidden(server, private_ok):
    server.routes["/r"] = redirect("file:///etc/passwd")
    with raises(ErrorCode.MEDIA_URL_FORBIDDEN):
        fetch_url(server.url("/r"))


def test_every_redirect_hop_is_checked_again(server, settings):
    """An allowed first hop redirecting to a private address is refused before connecting to it.

    The first hop is allowed because ALLOW_PRIVATE_URLS is on; the server turns it off while
    answering, so only a check made again for the second hop can stop it.
    """
    settings.ALLOW_PRIVATE_URLS = True

    def first(handler):
        settings.ALLOW_PRIVATE_URLS = False
        redirect(server.url("/secret", host="localhost"))(handler)

    server.routes["/start"] = first
    server.routes["/secret"] = respond(200, b"internal")
    with raises(ErrorCode.MEDIA_URL_FORBIDDEN) as info:
        fetch_url(server.url("/start"))
    assert info.value.details == {"field": "url", "host": "localhost"}
    assert [path for path, _ in server.requests] == ["/start"]


def test_the_body_is_cut_off_once_it_passes_the_limit(server, private_ok):
    def endless(handler):  # no Content-Length; the body never ends, only the cap can stop the download
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            while not server.release.is_set():
                handler.wfile.write(b"\0" * 4096)
        except OSError:
            pass

    server.routes["/endless"] = endless
    started = time.monotonic()
    with raises(ErrorCode.MEDIA_TOO_LARGE) as info:
        fetch_url(server.url("/endless"), max_bytes=100_000, timeout_s=10)
    assert info.value.details == {"field": "url", "max_bytes": 100_000}
    assert time.monotonic() - started < 5


def test_a_body_at_the_limit_is_accepted(server, private_ok):
    server.routes["/exact"] = respond(200, b"a" * 1000)
    assert len(fetch_url(server.url("/exact"), max_bytes=1000).content) == 1000


def test_a_large_content_length_is_refused_before_reading(server, private_ok):
    def big(handler):  # announces 10 MB, then sends nothing: reading the body would time out
        handler.send_response(200)
        handler.send_header("Content-Length", str(10_000_000))
        handler.end_headers()
        handler.wfile.flush()
        server.release.wait(10)

    server.routes["/big"] = big
    with raises(ErrorCode.MEDIA_TOO_LARGE) as info:
        fetch_url(server.url("/big"), max_bytes=1000, timeout_s=5)
    assert info.value.details == {"field": "url", "max_bytes": 1000, "size": 10_000_000}


def test_default_fetch_limit_is_the_setting(server, private_ok):
    private_ok.MEDIA_MAX_BYTES = 10
    server.routes["/f"] = respond(200, b"x" * 11)
    with raises(ErrorCode.MEDIA_TOO_LARGE):
        fetch_url(server.url("/f"))


@pytest.mark.parametrize("status", [404, 403, 500])
def test_non_2xx_is_a_fetch_failure_with_the_status(server, private_ok, status):
    server.routes["/x"] = respond(status, b"nope")
    with raises(ErrorCode.MEDIA_FETCH_FAILED) as info:
        fetch_url(server.url("/x"))
    assert info.value.details == {"field": "url", "host": "127.0.0.1", "reason": "http_status", "status": status}


def test_a_slow_server_is_a_timeout(server, private_ok):
    server.routes["/slow"] = lambda handler: server.release.wait(10)
    with raises(ErrorCode.MEDIA_FETCH_FAILED) as info:
        fetch_url(server.url("/slow"), timeout_s=0.5)
    assert info.value.details["reason"] == "timeout"


def test_a_refused_connection_is_a_fetch_failure(private_ok):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with raises(ErrorCode.MEDIA_FETCH_FAILED) as info:
        fetch_url(f"http://127.0.0.1:{port}/x")
    assert info.value.details["reason"] == "connect"


def test_a_dns_failure_is_a_fetch_failure(resolver):
    table, _ = resolver
    table["gone.example"] = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with raises(ErrorCode.MEDIA_FETCH_FAILED) as info:
        fetch_url("https://gone.example/a.png")
    assert info.value.details == {"field": "url", "host": "gone.example", "reason": "dns"}


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "example.com/a.png", "", "http://",
                                 "javascript:alert(1)"])
def test_only_absolute_http_urls_are_accepted(url):
    with raises(ErrorCode.VALIDATION_ERROR) as info:
        fetch_url(url, field="media_url")
    assert info.value.details == {"field": "media_url"}


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "10.0.0.1", "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]", "2130706433",
     "0.0.0.0", "192.168.1.1", "172.16.0.1", "[fe80::1]", "[fc00::1]", "[2002:7f00:1::]"],
)
def test_private_destinations_are_refused_before_connecting(server, settings, host):
    settings.ALLOW_PRIVATE_URLS = False
    server.routes["/a.png"] = respond(200, PNG)
    with raises(ErrorCode.MEDIA_URL_FORBIDDEN) as info:
        fetch_url(f"http://{host}:{server.port}/a.png", timeout_s=2)
    assert info.value.details["field"] == "url"
    assert server.requests == []


def test_a_name_with_any_private_address_is_refused(server, settings, resolver):
    settings.ALLOW_PRIVATE_URLS = False
    table, _ = resolver
    table["public.example"] = ["93.184.216.34", "10.1.2.3"]
    with raises(ErrorCode.MEDIA_URL_FORBIDDEN) as info:
        fetch_url("https://public.example/a.png", timeout_s=2)
    assert info.value.details == {"field": "url", "host": "public.example"}


def test_connects_to_the_checked_address_without_resolving_again(server, private_ok, resolver):
    """DNS rebinding: a second lookup would answer an unreachable address (or real DNS would fail)."""
    table, lookups = resolver
    table["rebind.example"] = [["127.0.0.1"], ["10.255.255.1"], ["10.255.255.1"]]
    server.routes["/a.png"] = respond(200, PNG, {"Content-Type": "image/png"})
    fetched = fetch_url(server.url("/a.png", host="rebind.example"), timeout_s=5)
    assert fetched.content == PNG
    assert lookups == ["rebind.example"]
    assert server.requests == [("/a.png", f"rebind.example:{server.port}")]  # Host header kept


def test_tries_the_next_address_when_one_refuses(server, private_ok, resolver):
    table, _ = resolver
    table["multi.example"] = ["127.0.0.2", "127.0.0.1"]  # nothing listens on 127.0.0.2
    server.routes["/a"] = respond(200, b"ok")
    assert fetch_url(server.url("/a", host="multi.example")).content == b"ok"


def test_https_sends_the_name_as_sni_and_verifies_the_certificate(private_ok, resolver, tmp_path):
    """A self-signed certificate fails verification (reason tls), after the server saw SNI = the name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "media.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("media.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    seen: list[str | None] = []
    context.sni_callback = lambda sock, server_name, ctx: seen.append(server_name)

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    table, _ = resolver
    table["media.test"] = ["127.0.0.1"]
    try:
        with raises(ErrorCode.MEDIA_FETCH_FAILED) as info:
            fetch_url(f"https://media.test:{port}/a.png", timeout_s=5)
    finally:
        thread.join(5)
        listener.close()
    assert info.value.details["reason"] == "tls"
    assert seen == ["media.test"]


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("8.8.8.8", False), ("93.184.216.34", False), ("2606:4700:4700::1111", False),
        ("127.0.0.1", True), ("10.0.0.1", True), ("172.31.255.255", True), ("192.168.0.1", True),
        ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True),
        ("255.255.255.255", True), ("240.0.0.1", True), ("198.51.100.7", True),
        ("::1", True), ("::", True), ("fe80::1", True), ("fc00::1", True), ("fd12::1", True), ("ff02::1", True),
        ("::ffff:127.0.0.1", True), ("::ffff:8.8.8.8", True), ("2002:7f00:1::", True), ("2002:0808:0808::", False),
        ("64:ff9b::7f00:1", True), ("::127.0.0.1", True), ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),
    ],
)
def test_address_classification(address, forbidden):
    assert fetch_module.is_forbidden_address(ipaddress.ip_address(address)) is forbidden
