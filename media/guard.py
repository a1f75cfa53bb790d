"""The file guard: which local files ``send_file`` may send, and the per-app media quota.

:func:`check_upload_path` runs reference/mcp-tools.md §2.15 steps 2-7 in that order, and the first
failure wins:

1. the argument itself (not empty, at most 500 characters, no NUL byte, absolute) —
   ``VALIDATION_ERROR``, like every other malformed argument (§1.4 step 2; NUL is refused the way
   the REST API refuses it in path parameters);
2. confinement: ``..`` and symlinks are resolved (``os.path.realpath``) and the real path must lie
   inside an upload directory (``UPLOAD_DIRS``, by default ``MEDIA_ROOT/media`` and ``/tmp``, both
   resolved too), compared by path components, never by string prefix (``/tmpfoo`` is not in
   ``/tmp``). Inside the gateway's own media directory an app may only name its own files —
   ``MEDIA_PATH_TRAVERSAL``;
3. sensitive names (session and message databases, SQLite files, keys, certificates, ``.env``,
   anything mentioning credentials), matched case-insensitively against the base name and the
   full path, as given and as resolved — ``MEDIA_PATH_TRAVERSAL``;
4. a dangerous last extension (``x.pdf.exe``, ``x.EXE``, ``x.exe.``), of the name as given and as
   resolved — ``MEDIA_DANGEROUS_EXTENSION``. Only the last extension decides, as it does for the
   system that opens the file: ``report.exe.pdf`` is judged by its content in step 7, where
   executable content is refused whatever the file is called;
5. a regular file exists there (a directory, FIFO or device is not a file to send) —
   ``MEDIA_FILE_NOT_FOUND``;
6. at most ``MEDIA_MAX_BYTES`` — ``MEDIA_TOO_LARGE``;
7. the content is what ``media_type`` says (:func:`media.sniff.check_file_kind`) —
   ``MEDIA_MAGIC_MISMATCH``.

The file is read once, through a descriptor opened without following a final symlink, and the
bytes that were checked are the bytes returned (``GuardedFile.content``): swapping the file after
the check cannot change what is sent.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import Sum

from media.models import MediaFile
from media.sniff import DANGEROUS_EXTENSIONS, FILE_KINDS, check_file_kind, extension_of
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import App

__all__ = ["SENSITIVE_PATTERNS", "GuardedFile", "check_quota", "check_upload_path", "upload_dirs"]

MAX_PATH_CHARS = 500
MIB = 1024 * 1024

#: Files that must never leave the machine (fnmatch patterns, matched lower-cased). The first
#: line is the reference's list; the rest covers this gateway's own store (``DATA_DIR`` holds the
#: SQLite database, the sessions and ``secret_key``) and common private keys.
SENSITIVE_PATTERNS: tuple[str, ...] = (
    "session.db", "messages.db", "audit.db", "*.db-wal", "*.db-shm", "*.key", "*.pem", "*.env", "*credentials*",
    ".env", "*.db", "*.db-journal", "*.sqlite", "*.sqlite3", "*.sqlite-*", "*.sqlite3-*", "secret_key",
    "*.p12", "*.pfx", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
)


@dataclass(frozen=True)
class GuardedFile:
    """A local file cleared for sending: its path as given and resolved, its size, its real MIME
    type (by content), the base name to show and the exact bytes that were checked."""

    path: str
    real_path: str
    size: int
    mime: str
    file_name: str
    content: bytes = field(repr=False, compare=False, default=b"")


def upload_dirs() -> list[str]:
    """The directories files may be sent from, resolved: ``UPLOAD_DIRS``, else ``MEDIA_ROOT/media``
    and ``/tmp``."""
    configured = list(getattr(settings, "UPLOAD_DIRS", None) or ())
    dirs = configured or [str(Path(settings.MEDIA_ROOT) / "media"), "/tmp"]
    return [os.path.realpath(directory) for directory in dirs]


def _inside(path: str, directory: str) -> bool:
    try:
        return os.path.commonpath([path, directory]) == directory
    except ValueError:  # different drives, or a mix of absolute and relative
        return False


def _refuse_path(file_path: str, message: str, **details: object) -> WhatsAppError:
    return WhatsAppError(ErrorCode.MEDIA_PATH_TRAVERSAL, message, details={"file_path": file_path, **details})


def _check_argument(file_path: object, media_type: object) -> str:
    if media_type not in FILE_KINDS:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"media_type must be one of {', '.join(FILE_KINDS)}.",
                            details={"field": "media_type", "allowed": list(FILE_KINDS)})
    problem = None
    if not isinstance(file_path, str) or not file_path.strip():
        problem = "file_path is required."
    elif len(file_path) > MAX_PATH_CHARS:
        problem = f"file_path must be at most {MAX_PATH_CHARS} characters."
    elif "\x00" in file_path:
        problem = "file_path must not contain NUL characters."
    elif not os.path.isabs(file_path):
        problem = "file_path must be an absolute path."
    if problem:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, problem, details={"field": "file_path"})
    return file_path


def _check_confined(file_path: str, real_path: str, app: App | None) -> None:
    allowed = upload_dirs()
    if not any(_inside(real_path, directory) for directory in allowed):
        raise _refuse_path(file_path, f"{file_path} is outside the directories files may be sent from "
                                      f"({', '.join(allowed)}); symlinks and '..' are resolved first.",
                           allowed_dirs=allowed)
    media_dir = os.path.realpath(Path(settings.MEDIA_ROOT) / "media")
    own_dir = os.path.join(media_dir, str(app.pk)) if app is not None else None
    if own_dir is not None and _inside(real_path, media_dir) and not _inside(real_path, own_dir):
        raise _refuse_path(file_path, "That file belongs to another app's media.")


def _sensitive(name: str) -> str | None:
    lowered = name.lower()
    return next((pattern for pattern in SENSITIVE_PATTERNS if fnmatch.fnmatchcase(lowered, pattern)), None)


def _check_not_sensitive(file_path: str, real_path: str) -> None:
    for candidate in (os.path.basename(file_path), os.path.basename(real_path), file_path, real_path):
        pattern = _sensitive(candidate)
        if pattern is not None:
            raise _refuse_path(file_path, "Database files, keys and credentials cannot be sent.", pattern=pattern)


def _check_extension(file_path: str, real_path: str) -> None:
    for name in (file_path, real_path):
        extension = extension_of(name)
        if extension in DANGEROUS_EXTENSIONS:
            raise WhatsAppError(ErrorCode.MEDIA_DANGEROUS_EXTENSION, f"Files ending in .{extension} are blocked.",
                                details={"file_path": file_path, "extension": extension})


def _not_found(file_path: str, message: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.MEDIA_FILE_NOT_FOUND, message, details={"file_path": file_path})


def _read_regular_file(file_path: str, real_path: str) -> bytes:
    """The file's bytes, read through one descriptor: missing or not a regular file is
    ``MEDIA_FILE_NOT_FOUND``, over ``MEDIA_MAX_BYTES`` is ``MEDIA_TOO_LARGE`` (judged before reading)."""
    # O_NOFOLLOW: the resolved path must not have become a symlink since it was resolved;
    # O_NONBLOCK: opening a FIFO must not hang (it is refused below).
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(real_path, flags)
    except FileNotFoundError:
        raise _not_found(file_path, f"No file at {file_path}.") from None
    except OSError as error:
        raise _not_found(file_path, f"{file_path} cannot be opened ({error.strerror}).") from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise _not_found(file_path, f"{file_path} is not a regular file.")
    with os.fdopen(descriptor, "rb") as handle:
        limit = settings.MEDIA_MAX_BYTES
        if info.st_size > limit:
            raise WhatsAppError(ErrorCode.MEDIA_TOO_LARGE, f"The file is {info.st_size} bytes; the limit is {limit}.",
                                details={"file_path": file_path, "size": info.st_size, "max_bytes": limit})
        content = handle.read(limit + 1)
    if len(content) > limit:  # it grew while being read
        raise WhatsAppError(ErrorCode.MEDIA_TOO_LARGE, f"The file exceeds the {limit}-byte limit.",
                            details={"file_path": file_path, "max_bytes": limit})
    return content


def check_upload_path(file_path: str, media_type: str, *, app: App | None = None) -> GuardedFile:
    """Clear a local file for ``send_file`` as a ``media_type`` (image, video, audio, document),
    or raise the first refusal (see the module docstring for the order and the codes). With
    ``app``, files inside the gateway's media directory must be that app's own."""
    _check_argument(file_path, media_type)
    real_path = os.path.realpath(file_path)
    _check_confined(file_path, real_path, app)
    _check_not_sensitive(file_path, real_path)
    _check_extension(file_path, real_path)
    content = _read_regular_file(file_path, real_path)
    file_name = os.path.basename(os.path.normpath(file_path))
    mime = check_file_kind(media_type, content, file_name)
    return GuardedFile(path=file_path, real_path=real_path, size=len(content), mime=mime, file_name=file_name,
                       content=content)


# --- quota ------------------------------------------------------------------------------------


def media_usage(app: App) -> int:
    """Bytes of media the app stores (the sizes recorded for its media files)."""
    return MediaFile.objects.filter(app=app).aggregate(total=Sum("size"))["total"] or 0


def check_quota(app: App, incoming_bytes: int) -> None:
    """``MEDIA_QUOTA_EXCEEDED`` unless the app's stored media plus ``incoming_bytes`` stays within
    ``MEDIA_QUOTA_MB``. Usage is the sum of the app's recorded media files: one indexed query
    instead of a directory walk, and exact because every stored file has its row."""
    quota = settings.MEDIA_QUOTA_MB * MIB
    used = media_usage(app)
    incoming = max(0, int(incoming_bytes or 0))
    if used + incoming > quota:
        raise WhatsAppError(
            ErrorCode.MEDIA_QUOTA_EXCEEDED,
            f"This app stores {used / MIB:.1f} MiB of media; {incoming / MIB:.1f} MiB more would exceed its "
            f"{settings.MEDIA_QUOTA_MB} MiB quota (MEDIA_QUOTA_MB).",
            details={"used_bytes": used, "incoming_bytes": incoming, "quota_bytes": quota},
        )
