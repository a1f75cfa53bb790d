"""Which media an API client may send, judged by the bytes rather than by what the client claims.

A declared MIME type is a hint from an untrusted client, and a file name is just a label: the
recipient's phone decides how to open a file from its content. So every outbound file is sniffed
with libmagic and must (a) be on its kind's allow-list, (b) not contradict the declared type and
(c) not carry an executable extension. The equivalence tables below exist because libmagic names
some legitimate files differently from what clients declare (M4A, MP3 without ID3, CSV, Office).
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath

import magic

from whatsapp.errors import ErrorCode, WhatsAppError

__all__ = ["DANGEROUS_EXTENSIONS", "MIME_ALLOW_LIST", "canonical_mime", "check_media"]

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

#: Seed 000's blocked extensions, plus other script/installer types Windows, macOS or Android run.
DANGEROUS_EXTENSIONS = frozenset({
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


def _extension(file_name: str | None) -> str:
    # Windows ignores trailing dots and spaces ("evil.exe." runs), and a name may carry a path.
    base = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1].rstrip(". ")
    return PurePosixPath(base).suffix.lstrip(".").lower()


def sniff(content: bytes) -> str:
    """libmagic's MIME type for the first bytes (canonical)."""
    return canonical_mime(magic.from_buffer(content[:SNIFF_BYTES], mime=True))


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
