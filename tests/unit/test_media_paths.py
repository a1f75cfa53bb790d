"""Media files live at ``media/{app_id}/{device_id}-{wa_id}.{ext}`` and never outside MEDIA_ROOT."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from media.models import MediaFile, storage_path

APP_ID = uuid.UUID("11111111-1111-1111-1111-111111111111")
DEVICE_ID = uuid.UUID("22222222-2222-2222-2222-222222222222")
PREFIX = f"media/{APP_ID}/{DEVICE_ID}-"


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


def test_storage_path_format() -> None:
    assert storage_path(APP_ID, DEVICE_ID, "3EB0C767D26A1B2E", "jpg") == f"{PREFIX}3EB0C767D26A1B2E.jpg"


def test_extension_loses_its_dot_and_case() -> None:
    assert storage_path(APP_ID, DEVICE_ID, "ABC", ".JPEG") == f"{PREFIX}ABC.jpeg"


@pytest.mark.parametrize("extension", ["", ".", "/", "..", "/.."])
def test_default_extension_is_bin(extension: str) -> None:
    assert storage_path(APP_ID, DEVICE_ID, "ABC", extension) == f"{PREFIX}ABC.bin"


@pytest.mark.parametrize(("wa_id", "safe"), [
    ("../x", "x"),
    ("a/b", "ab"),
    ("..\\..\\evil", "evil"),
    ("/etc/passwd", "etcpasswd"),
    ("id with spaces\x00", "idwithspaces"),
    ("keep-these_chars", "keep-these_chars"),
])
def test_unsafe_characters_are_stripped_from_the_message_id(wa_id: str, safe: str) -> None:
    assert storage_path(APP_ID, DEVICE_ID, wa_id, "jpg") == f"{PREFIX}{safe}.jpg"


@pytest.mark.parametrize(("extension", "safe"), [("../../sh", "sh"), ("tar.gz", "targz"), ("p/n\\g", "png")])
def test_unsafe_characters_are_stripped_from_the_extension(extension: str, safe: str) -> None:
    assert storage_path(APP_ID, DEVICE_ID, "ABC", extension) == f"{PREFIX}ABC.{safe}"


@pytest.mark.parametrize(("wa_id", "extension"), [("../../x", "../y"), ("..", ".."), ("a/../../b", "/etc")])
def test_storage_path_stays_in_its_directory(wa_id: str, extension: str) -> None:
    path = storage_path(APP_ID, DEVICE_ID, wa_id, extension)
    directory, _, name = path.rpartition("/")
    assert directory == f"media/{APP_ID}"
    assert ".." not in path
    assert name.count(".") == 1


def test_absolute_path_is_under_media_root(media_root: Path) -> None:
    relative = storage_path(APP_ID, DEVICE_ID, "ABC", "jpg")
    assert MediaFile(path=relative).absolute_path == media_root.resolve() / relative


def test_absolute_path_allows_dots_that_stay_inside(media_root: Path) -> None:
    assert MediaFile(path="media/x/../y/file.jpg").absolute_path == media_root.resolve() / "media/y/file.jpg"


@pytest.mark.parametrize("path", ["../outside.jpg", "media/../../outside.jpg", "media/a/../../../etc/passwd",
                                  "/etc/passwd"])
def test_absolute_path_refuses_paths_escaping_media_root(media_root: Path, path: str) -> None:
    with pytest.raises(ValueError, match="escapes MEDIA_ROOT"):
        _ = MediaFile(path=path).absolute_path


def test_absolute_path_refuses_a_sibling_with_a_common_prefix(media_root: Path) -> None:
    sibling = media_root.parent / (media_root.name + "-other")
    sibling.mkdir()
    with pytest.raises(ValueError, match="escapes MEDIA_ROOT"):
        _ = MediaFile(path=f"../{sibling.name}/file.jpg").absolute_path


def test_absolute_path_refuses_a_symlink_out_of_media_root(media_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (media_root / "media").mkdir()
    (media_root / "media" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="escapes MEDIA_ROOT"):
        _ = MediaFile(path="media/link/file.jpg").absolute_path
