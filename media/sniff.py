"""Which media an API client may send, judged by the bytes rather than by what the client claims.

A declared MIME type is a hint from an untrusted client, and a file name is just a label: the
recipient's phone decides how to open a file from its content. So every outbound file is sniffed
with libmagic and must (a) be on its kind's allow-list, (b) not contradict the declared type and
(c) not carry an executable extension. The equivalence tables below exist because libmagic names
some legitimate files differently from what clients declare (M4A, MP3 without ID3, CSV, Office).

:func:`sniff` corrects libmagic where it is known to be vague, from the content alone: RIFF is
told apart by its form type (WEBP, WAVE, AVI), ISO media by its tracks (an M4A is audio even when
its brand says ``isom``), an MP3 without an ID3 tag by a chain of MPEG audio frames, and a zip by
what it holds (OOXML, OpenDocument, EPUB — or an Android package). :func:`detect` adds what only
the file name can tell (CSV vs plain text, a legacy Office file's application), and
:func:`check_file_kind` judges a local file for ``send_file`` (reference/mcp-tools.md §2.15, §4).
"""

from __future__ import annotations

import io
import mimetypes
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath

import magic

from whatsapp.errors import ErrorCode, WhatsAppError

__all__ = ["DANGEROUS_EXTENSIONS", "FILE_KINDS", "MIME_ALLOW_LIST", "canonical_mime", "check_file_kind",
           "check_media", "detect", "extension_of", "real_mime", "sniff"]

SNIFF_BYTES = 8192
OCTET_STREAM = "application/octet-stream"
_GENERIC = frozenset({"", OCTET_STREAM, "binary/octet-stream", "application/unknown", "application/x-unknown"})

#: Spellings clients and libmagic use for one format, mapped to the name WhatsApp expects.
_ALIASES: dict[str, str] = {
    "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg", "audio/x-mp3": "audio/mpeg", "audio/mpeg3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg", "audio/mpg": "audio/mpeg",
    "audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4", "audio/x-mp4": "audio/mp4",
    "audio/x-aac": "audio/aac", "audio/x-hx-aac-adts": "audio/aac", "audio/aacp": "audio/aac",
    "audio/opus": "audio/ogg", "application/ogg": "audio/ogg", "audio/x-ogg": "audio/ogg",
    "audio/amr-nb": "audio/amr", "audio/x-amr": "audio/amr",
    "audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "video/3gp": "video/3gpp", "video/x-m4v": "video/mp4",
    "text/comma-separated-values": "text/csv", "text/x-csv": "text/csv", "application/csv": "text/csv",
    "application/x-csv": "text/csv", "text/tsv": "text/tab-separated-values",
    "application/rtf": "text/rtf", "application/x-zip-compressed": "application/zip",
    "application/x-zip": "application/zip", "application/x-gzip": "application/gzip",
    "application/x-rar": "application/vnd.rar", "application/x-rar-compressed": "application/vnd.rar",
    "application/x-tar": "application/x-tar", "text/x-markdown": "text/markdown",
    "application/cdfv2": "application/x-ole-storage", "video/avi": "video/x-msvideo",
    "video/msvideo": "video/x-msvideo",
}

_IMAGE = frozenset({"image/jpeg", "image/png", "image/webp"})
_VIDEO = frozenset({"video/mp4", "video/3gpp"})
# WhatsApp's audio list (aac, amr, mpeg, mp4, ogg with opus). WAV/FLAC are not played inline, so
# they go as documents.
_AUDIO = frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"})
_OLE = frozenset({"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
                  "application/vnd.ms-outlook", "application/vnd.visio"})
_OLE_SNIFFS = frozenset({"application/x-ole-storage", "application/cdfv2", "application/vnd.ms-office"})
_OOXML = frozenset({
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
    "application/vnd.openxmlformats-officedocument.presentationml.template",
})
_ODF = frozenset({"application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
                  "application/vnd.oasis.opendocument.presentation", "application/vnd.oasis.opendocument.graphics"})
_ZIP_BASED = _OOXML | _ODF | {"application/epub+zip"}
_TEXT = frozenset({"text/plain", "text/csv", "text/tab-separated-values", "text/markdown", "text/calendar",
                   "text/vcard", "text/x-vcard", "text/rtf", "application/json", "application/xml", "text/xml"})
# Documents are the permissive kind (WhatsApp delivers any file as a document): office, text,
# archives and media sent uncompressed. Active content that a browser would run when the file is
# opened or served back (HTML, SVG, JavaScript) and anything executable are left out.
_DOCUMENT = (
    frozenset({"application/pdf", OCTET_STREAM, "application/zip", "application/gzip", "application/x-tar",
               "application/x-7z-compressed", "application/vnd.rar", "application/x-bzip2", "application/x-xz",
               "application/vnd.apple.pages", "application/vnd.apple.numbers", "application/vnd.apple.keynote",
               "image/gif", "image/bmp", "image/tiff", "image/heic", "image/heif", "image/avif",
               "video/quicktime", "video/webm", "video/x-matroska", "audio/wav", "audio/flac",
               "application/vnd.google-earth.kml+xml", "application/gpx+xml"})
    | _IMAGE | _VIDEO | _AUDIO | _OLE | _OOXML | _ODF | _TEXT | {"application/epub+zip"}
)

#: Canonical MIME types accepted per message kind (the REST ``type``).
MIME_ALLOW_LIST: dict[str, frozenset[str]] = {
    "image": _IMAGE,
    "video": _VIDEO,
    "audio": _AUDIO,
    "sticker": frozenset({"image/webp"}),
    "document": _DOCUMENT,
}

#: Seed 000's blocked extensions and reference/mcp-tools.md §2.15's list (``cab``), plus other
#: script/installer types Windows, macOS or Android run.
DANGEROUS_EXTENSIONS = frozenset({
    "cab",
    "exe", "bat", "ps1", "sh", "dll", "so", "cmd", "com", "pif", "scr", "vbs", "msi", "jar", "apk", "ipa",
    "dmg", "pkg", "deb", "rpm", "sys", "drv", "ocx", "cpl", "msp", "lnk", "reg", "inf", "scf", "action",
    "application", "gadget", "msu", "pcw", "theme", "themepack", "workflow",
    "js", "jse", "vbe", "wsf", "wsh", "hta", "msc", "psm1", "psd1", "ps1xml", "appx", "appxbundle", "msix",
    "xapk", "bash", "zsh", "csh", "ksh", "command", "url", "iso", "img", "vhd", "vhdx",
})
#: Sniffed types that are executable whatever the file is called.
_DANGEROUS_SNIFFS = frozenset({
    "application/x-dosexec", "application/x-msdownload", "application/vnd.microsoft.portable-executable",
    "application/x-executable", "application/x-pie-executable", "application/x-sharedlib",
    "application/x-mach-binary", "application/x-msi", "application/x-ms-shortcut", "text/x-shellscript",
    "application/x-shellscript", "text/x-msdos-batch", "application/java-archive", "application/x-java-archive",
    "application/vnd.android.package-archive", "application/x-apple-diskimage",
})

# Declared type -> sniffed types that do not contradict it (besides the declared type itself).
_TOLERATED: dict[str, frozenset[str]] = {
    # M4A often carries the isom/mp42 brand, which libmagic names video/mp4; both are ISO-BMFF.
    "audio/mp4": frozenset({"video/mp4"}),
    "video/mp4": frozenset({"video/3gpp"}),
    "video/3gpp": frozenset({"video/mp4"}),
    # MP3 without an ID3 tag and with junk before the first frame sync, and raw AAC, are unknown to libmagic.
    "audio/mpeg": frozenset({OCTET_STREAM}),
    "audio/aac": frozenset({OCTET_STREAM}),
    "application/zip": _ZIP_BASED,
    **dict.fromkeys(_ZIP_BASED, frozenset({"application/zip"})),
    **dict.fromkeys(_OLE, _OLE | _OLE_SNIFFS),
}


def canonical_mime(mime: str | None) -> str:
    """Lower-case type without parameters, under the one name this module uses for each format."""
    bare = (mime or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)


def _is_text(mime: str) -> bool:
    return (mime.startswith("text/") or mime in _TEXT) and mime not in _DANGEROUS_SNIFFS


def _compatible(declared: str, detected: str) -> bool:
    """True when the sniffed type does not contradict the declared one (both canonical)."""
    if declared == detected or detected in _TOLERATED.get(declared, ()):
        return True
    # libmagic calls CSV and other plain text "text/plain", and sometimes guesses a programming
    # language for ordinary text; any textual sniff fits a textual declaration.
    return _is_text(declared) and _is_text(detected)


def extension_of(file_name: str | None) -> str:
    """The last extension of a file name, lower case, as Windows reads it: trailing dots and spaces
    are ignored (``evil.exe.`` runs), and a name may carry a path (either slash)."""
    base = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1].rstrip(". ")
    return PurePosixPath(base).suffix.lstrip(".").lower()


_extension = extension_of


# --- content sniffing ---------------------------------------------------------------------------

_RIFF_FORMS = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_MAX_BOXES = 4096  # an ISO file with more boxes than this in the parts walked is not a media file


def _iso_boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, payload start, payload end)`` of the ISO-BMFF boxes between ``start`` and ``end``
    (a truncated last box is clipped to ``end``)."""
    position, count = start, 0
    while position + 8 <= end and count < _MAX_BOXES:
        size, kind, header = int.from_bytes(data[position:position + 4], "big"), data[position + 4:position + 8], 8
        if size == 1 and position + 16 <= end:
            size, header = int.from_bytes(data[position + 8:position + 16], "big"), 16
        elif size == 0:  # to the end of the file
            size = end - position
        if size < header:
            return
        yield kind, position + header, min(position + size, end)
        position += size
        count += 1


def _iso_handlers(data: bytes) -> set[bytes]:
    """The handler types (``vide``, ``soun``, ``text``…) of an ISO media file's tracks, read from
    ``moov/trak/mdia/hdlr``; empty when the file has no (readable) movie box."""
    handlers: set[bytes] = set()
    for kind, start, end in _iso_boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for trak, t_start, t_end in _iso_boxes(data, start, end):
            if trak != b"trak":
                continue
            for mdia, m_start, m_end in _iso_boxes(data, t_start, t_end):
                if mdia != b"mdia":
                    continue
                for hdlr, h_start, h_end in _iso_boxes(data, m_start, m_end):
                    if hdlr == b"hdlr" and h_end - h_start >= 12:
                        handlers.add(data[h_start + 8:h_start + 12])  # after version/flags, pre_defined
    return handlers


def _iso_media(content: bytes) -> str | None:
    """An ISO base media file (MP4, M4A, 3GP, MOV) by its tracks, else by its brand; None when it
    is none of those (HEIF and AVIF images also start with ``ftyp``, and libmagic knows them)."""
    if content[4:8] != b"ftyp":
        return None
    brand = content[8:12]
    handlers = _iso_handlers(content)
    if b"vide" not in handlers and (b"soun" in handlers or brand in _AUDIO_BRANDS):
        return "audio/mp4"
    if brand.startswith((b"3gp", b"3g2")):
        return "video/3gpp"
    if brand == b"qt  ":
        return "video/quicktime"
    if b"vide" in handlers:
        return "video/mp4"
    return None


# MPEG audio frame headers (ISO 11172-3 / 13818-3): bit rates in kbit/s by (version 1?, layer).
_MPEG_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits
_MPEG_SCAN_BYTES = 64 * 1024  # how far junk (padding, a broken tag) may push the first frame
_MPEG_CHAIN = 3  # consecutive frames that make a stream: random bytes almost never chain


def _mpeg_frame(data: bytes, at: int) -> tuple[tuple[int, int, int], int] | None:
    """``((version, layer, sample rate), frame length)`` of a valid MPEG audio frame header at ``at``."""
    if at + 4 > len(data):
        return None
    b1, b2, b3 = data[at + 1], data[at + 2], data[at + 3]
    if data[at] != 0xFF or b1 & 0xE0 != 0xE0:
        return None
    version, layer_bits = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3 or b3 & 3 == 2:
        return None
    layer = 4 - layer_bits
    bitrate = _MPEG_BITRATES[(version == 3, layer)][bitrate_index] * 1000
    rate = _MPEG_RATES[version][rate_index]
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
    else:
        length = (144 if layer == 2 or version == 3 else 72) * bitrate // rate + padding
    return ((version, layer, rate), length) if length > 4 else None


def _is_mpeg_audio(data: bytes) -> bool:
    """Whether a chain of MPEG audio frames (an MP3 without an ID3 tag) starts in the first bytes."""
    at = data.find(b"\xff", 0, _MPEG_SCAN_BYTES)
    while at != -1:
        first = _mpeg_frame(data, at)
        if first is not None:
            shape, position, chained = first[0], at + first[1], 1
            while chained < _MPEG_CHAIN:
                frame = _mpeg_frame(data, position)
                if frame is None or frame[0] != shape:
                    break
                position, chained = position + frame[1], chained + 1
            # A short file may end after fewer frames; it must then end exactly at a frame boundary.
            if chained >= _MPEG_CHAIN or (chained >= 2 and position == len(data)):
                return True
        at = data.find(b"\xff", at + 1, _MPEG_SCAN_BYTES)
    return False


_OOXML_PARTS = {
    "word/document.xml": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/workbook.xml": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/presentation.xml": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_ZIP_MIMETYPES = _ODF | {"application/epub+zip"}


def _zip_content(content: bytes) -> str | None:
    """What a zip holds, by its entries: an Office document, an OpenDocument or EPUB (their
    ``mimetype`` entry), or an Android or Java package (executable). None for a plain archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            if "AndroidManifest.xml" in names and "classes.dex" in names:
                return "application/vnd.android.package-archive"
            if "META-INF/MANIFEST.MF" in names and any(name.endswith(".class") for name in names):
                return "application/java-archive"
            if "[Content_Types].xml" in names:
                return next((mime for part, mime in _OOXML_PARTS.items() if part in names), None)
            info = archive.getinfo("mimetype") if "mimetype" in names else None
            if info is not None and info.file_size <= 100:
                declared = archive.read(info).decode("ascii", "replace").strip()
                return declared if declared in _ZIP_MIMETYPES else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, KeyError, RuntimeError,
            NotImplementedError, EOFError):
        return None
    return None


def sniff(content: bytes) -> str:
    """The content's MIME type (canonical): libmagic's reading of the first bytes, corrected where
    libmagic is vague — RIFF by form type, ISO media by tracks, MP3 frames without an ID3 tag, and
    zips by their entries."""
    riff = _RIFF_FORMS.get(content[8:12]) if content[:4] == b"RIFF" else None
    if riff is not None:
        return riff
    iso = _iso_media(content)
    if iso is not None:
        return iso
    detected = canonical_mime(magic.from_buffer(content[:SNIFF_BYTES], mime=True))
    if detected in _GENERIC and _is_mpeg_audio(content):
        return "audio/mpeg"
    if detected == "application/zip":
        return _zip_content(content) or detected
    return detected


# --- what a file name adds ----------------------------------------------------------------------

_OLE_BY_EXTENSION = {
    "doc": "application/msword", "dot": "application/msword",
    "xls": "application/vnd.ms-excel", "xlt": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint", "pps": "application/vnd.ms-powerpoint",
    "pot": "application/vnd.ms-powerpoint", "msg": "application/vnd.ms-outlook", "vsd": "application/vnd.visio",
}
_M4A_EXTENSIONS = frozenset({"m4a", "m4b", "m4p", "aac"})
#: Content a browser or viewer runs when the file is opened (never sent as a document).
_ACTIVE = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "text/javascript",
                     "application/javascript", "application/x-javascript", "text/x-javascript"})


def detect(content: bytes, file_name: str | None = None) -> str:
    """:func:`sniff`, refined by the file name where the content cannot tell: a text file's kind
    (``data.csv`` is text/csv), a legacy Office (OLE2) file's application, and an ISO media file
    without track information named as audio (``voice.m4a`` with an ``isom`` brand). The name
    never overrides what the content says it is."""
    detected = sniff(content)
    extension = extension_of(file_name)
    if not extension:
        return detected
    if _is_text(detected) and detected not in _ACTIVE:
        guessed = canonical_mime(mimetypes.guess_type(f"x.{extension}")[0])
        return guessed if guessed and _is_text(guessed) and guessed not in _ACTIVE else detected
    if detected in _OLE_SNIFFS:
        return _OLE_BY_EXTENSION.get(extension, detected)
    if detected == "video/mp4" and extension in _M4A_EXTENSIONS and b"vide" not in _iso_handlers(content):
        return "audio/mp4"
    return detected


def real_mime(content: bytes, *, declared_mime: str | None = None, file_name: str | None = None) -> str:
    """The MIME type to record for content someone else labelled (received media): what the
    content is (:func:`detect`), or the sender's label when the content does not contradict it —
    the label is often more precise (``audio/mp4`` for an M4A that libmagic calls ``video/mp4``) —
    or when the content is unknown."""
    declared = canonical_mime(declared_mime)
    detected = detect(content, file_name) if content else OCTET_STREAM
    if declared in _GENERIC:
        return detected
    if detected in _GENERIC or _compatible(declared, detected):
        return declared
    return detected


# --- send_file: a local file of a declared media type ------------------------------------------

#: What ``send_file`` accepts per media type, judged by content (reference/mcp-tools.md §2.15, §4):
#: images WhatsApp shows (and GIF, as the original did), video only in a real container, every
#: common audio format (MP3 with or without ID3, M4A/AAC, Ogg, AMR, WAV, FLAC), and as documents
#: anything that is neither executable nor active content.
FILE_KINDS: dict[str, frozenset[str]] = {
    "image": _IMAGE | {"image/gif"},
    "video": _VIDEO | {"video/quicktime", "video/webm", "video/x-matroska", "video/x-msvideo"},
    "audio": _AUDIO | {"audio/wav", "audio/flac"},
    "document": _DOCUMENT | {"video/x-msvideo", "application/x-ole-storage", "application/vnd.ms-office"},
}


def _fits(media_type: str, mime: str) -> bool:
    if mime in FILE_KINDS[media_type]:
        return True
    # Text comes in many flavours libmagic names (text/x-c, text/x-python…): all are documents.
    return media_type == "document" and _is_text(mime) and mime not in _ACTIVE


def check_file_kind(media_type: str, content: bytes, file_name: str | None = None) -> str:
    """The real MIME type of ``content`` when it is a ``media_type`` (image, video, audio or
    document); ``MEDIA_MAGIC_MISMATCH`` when it is not (or is empty), ``MEDIA_DANGEROUS_EXTENSION``
    when it is executable whatever its name. A PNG named ``.jpg`` is ``image/png``."""
    if media_type not in FILE_KINDS:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"media_type must be one of {', '.join(FILE_KINDS)}.",
                            details={"field": "media_type", "allowed": list(FILE_KINDS)})
    if not content:
        raise WhatsAppError(ErrorCode.MEDIA_MAGIC_MISMATCH, "The file is empty.",
                            details={"media_type": media_type, "detected": "empty"})
    mime = detect(content, file_name)
    if mime in _DANGEROUS_SNIFFS:
        raise WhatsAppError(ErrorCode.MEDIA_DANGEROUS_EXTENSION, f"The file is executable content ({mime}).",
                            details={"detected": mime})
    if not _fits(media_type, mime):
        what = "active content that is never sent" if mime in _ACTIVE else f"not a {media_type} WhatsApp takes"
        raise WhatsAppError(ErrorCode.MEDIA_MAGIC_MISMATCH, f"The file's content is {mime}: {what}.",
                            details={"media_type": media_type, "detected": mime})
    return mime


def check_media(kind: str, content: bytes, *, declared_mime: str | None, file_name: str | None) -> str:
    """Validate ``content`` for a ``kind`` message; return the MIME type to send.

    A declared type must be allowed for the kind and agree with the sniffed content. Without one
    the sniffed type is used, refined by the file extension when the two agree (``report.csv``
    sniffs as text/plain but is sent as text/csv; ``song.mp3`` without ID3 as audio/mpeg).
    """
    if not content:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "The media is empty.", details={"field": "media"})
    allowed = MIME_ALLOW_LIST.get(str(kind))
    if allowed is None:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"Message type {kind!r} carries no media.",
                            details={"field": "type", "allowed": sorted(MIME_ALLOW_LIST)})
    extension = _extension(file_name)
    if extension in DANGEROUS_EXTENSIONS:
        raise WhatsAppError(ErrorCode.MEDIA_DANGEROUS_EXTENSION, f"Files ending in .{extension} are blocked.",
                            details={"field": "file_name", "extension": extension})

    declared = canonical_mime(declared_mime)
    if declared not in _GENERIC and declared not in allowed:
        raise _not_allowed(kind, declared, allowed)
    detected = sniff(content)
    if detected in _DANGEROUS_SNIFFS:
        raise WhatsAppError(ErrorCode.MEDIA_DANGEROUS_EXTENSION, f"The file is executable content ({detected}).",
                            details={"field": "media", "detected": detected})

    if declared not in _GENERIC:
        if not _compatible(declared, detected):
            raise WhatsAppError(
                ErrorCode.MEDIA_MAGIC_MISMATCH,
                f"The content is {detected}, not the declared {declared}.",
                details={"field": "mime_type", "declared": declared, "detected": detected},
            )
        return declared

    guessed = canonical_mime(mimetypes.guess_type(f"x.{extension}")[0]) if extension else ""
    mime = guessed if guessed in allowed and _compatible(guessed, detected) else detected
    if mime not in allowed:
        raise _not_allowed(kind, mime, allowed)
    return mime


def _not_allowed(kind: str, mime: str, allowed: frozenset[str]) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{mime or 'this file type'} cannot be sent as {kind}.",
                         details={"field": "mime_type", "mime_type": mime, "allowed": sorted(allowed)})
