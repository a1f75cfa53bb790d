"""``GET /media?path=…``: the app's own stored media only, streamed with Content-Type/Length/
Disposition, ETag, conditional requests and single byte ranges — and every way a path can fail."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings

from media import downloads
from media.models import MediaDirection, MediaFile, storage_path
from tests.factories import make_app_with_token, make_device, make_message
from tests.unit.api.conftest import ApiClient, error_of
from whatsapp.models import MessageType

pytestmark = pytest.mark.django_db

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def root(settings, tmp_path: Path) -> Path:
    media_root = tmp_path / "data"
    media_root.mkdir()
    settings.MEDIA_ROOT = media_root
    return media_root


def store(app, data: bytes = DATA, *, mime: str = "image/jpeg", ext: str = "jpg", file_name: str = "",
          sha256: str | None = None, device=None, message=None) -> MediaFile:
    device = device or make_device(app)
    message = message or make_message(device, type=MessageType.IMAGE, media_mime_type=mime,
                                      media_file_name=file_name)
    relative = storage_path(app.pk, device.pk, message.wa_id, ext)
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return MediaFile.objects.create(app=app, device=device, message=message, path=relative,
                                    direction=MediaDirection.INBOUND, mime_type=mime, size=len(data),
                                    sha256=hashlib.sha256(data).hexdigest() if sha256 is None else sha256)


def fetch(client: ApiClient, path: str | None, headers: dict[str, str] | None = None):
    """``GET /media?path=…`` (``ApiClient.get`` takes ``path`` as its own first argument)."""
    return client.client.get("/media", {} if path is None else {"path": path}, headers=client._headers(headers))


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


# --- the happy paths ------------------------------------------------------------------------------


def test_downloads_the_whole_file(api, app, root) -> None:
    media = store(app, file_name="holiday photo.jpg")
    response = fetch(api, media.path)
    assert response.status_code == 200
    assert body_of(response) == DATA
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Length"] == str(len(DATA))
    assert response["Content-Disposition"] == 'attachment; filename="holiday photo.jpg"'
    assert response["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert response["Accept-Ranges"] == "bytes"
    assert "X-RateLimit-Limit" in response  # counted by the app limiter like every app request


def test_without_a_file_name_the_paths_base_name_is_used(api, app, root) -> None:
    media = store(app, mime="application/x-unknown; bad", ext="bin")
    response = fetch(api, media.path)
    assert response["Content-Disposition"] == f'attachment; filename="{Path(media.path).name}"'
    assert response["Content-Type"] == "application/octet-stream"


def test_a_senders_file_name_cannot_inject_a_path_or_header(api, app, root) -> None:
    media = store(app, file_name="..\\..\\evil\r\nX-Injected: 1.pdf")
    response = fetch(api, media.path)
    assert response.status_code == 200
    assert "X-Injected" not in response.headers
    assert "\n" not in response["Content-Disposition"]
    assert "\\" not in response["Content-Disposition"]


def test_a_non_ascii_file_name_is_encoded(api, app, root) -> None:
    media = store(app, file_name="résumé.pdf", mime="application/pdf", ext="pdf")
    response = fetch(api, media.path)
    assert "filename*=utf-8''r%C3%A9sum%C3%A9.pdf" in response["Content-Disposition"]


def test_an_empty_file_downloads(api, app, root) -> None:
    media = store(app, b"")
    response = fetch(api, media.path)
    assert response.status_code == 200
    assert body_of(response) == b""
    assert response["Content-Length"] == "0"


def test_without_a_stored_sha256_the_etag_is_weak(api, app, root) -> None:
    media = store(app, sha256="")
    etag = fetch(api, media.path)["ETag"]
    assert etag.startswith('W/"')
    assert fetch(api, media.path, {"If-None-Match": etag}).status_code == 304
    # A weak validator never satisfies If-Range: the whole file comes back.
    ranged = fetch(api, media.path, {"Range": "bytes=0-1", "If-Range": etag})
    assert ranged.status_code == 200


# --- ranges and validators ------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "first", "last"), [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, len(DATA) - 1),
    ("bytes=-10", len(DATA) - 10, len(DATA) - 1),
    ("bytes=10000-999999", 10000, len(DATA) - 1),
    ("bytes=-999999", 0, len(DATA) - 1),
    ("bytes=5-5", 5, 5),
])
def test_a_single_range_is_partial_content(api, app, root, header: str, first: int, last: int) -> None:
    media = store(app)
    response = fetch(api, media.path, {"Range": header})
    assert response.status_code == 206
    assert body_of(response) == DATA[first:last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Content-Type"] == "image/jpeg"
    assert response["ETag"] == f'"{media.sha256}"'


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_an_unsatisfiable_range_is_416(api, app, root, header: str) -> None:
    media = store(app)
    response = fetch(api, media.path, {"Range": header})
    assert response.status_code == 416
    assert error_of(response) == "range_not_satisfiable"
    assert response.json()["error"]["details"] == {"field": "Range", "size": len(DATA)}
    assert response["Content-Range"] == f"bytes */{len(DATA)}"


def test_any_range_of_an_empty_file_is_416(api, app, root) -> None:
    media = store(app, b"")
    response = fetch(api, media.path, {"Range": "bytes=0-"})
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */0"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=-", "bytes=abc", ""])
def test_ranges_we_do_not_serve_fall_back_to_the_whole_file(api, app, root, header: str) -> None:
    media = store(app)
    response = fetch(api, media.path, {"Range": header})
    assert response.status_code == 200
    assert body_of(response) == DATA


def test_if_range_with_the_etag_honours_the_range_and_a_stale_one_does_not(api, app, root) -> None:
    media = store(app)
    etag = f'"{media.sha256}"'
    fresh = fetch(api, media.path, {"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206
    assert body_of(fresh) == DATA[:10]
    stale = fetch(api, media.path, {"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200
    assert body_of(stale) == DATA


@pytest.mark.parametrize("header", ['"{etag}"', 'W/"{etag}"', '"x", "{etag}"', "*"])
def test_if_none_match_is_not_modified(api, app, root, header: str) -> None:
    media = store(app)
    response = fetch(api, media.path, {"If-None-Match": header.format(etag=media.sha256)})
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == f'"{media.sha256}"'


def test_if_none_match_with_another_etag_downloads(api, app, root) -> None:
    media = store(app)
    assert fetch(api, media.path, {"If-None-Match": '"other"'}).status_code == 200


# --- the path: shape, ownership, confinement -------------------------------------------------------


@pytest.mark.parametrize("path", [
    "", "media", "/etc/passwd", "../../etc/passwd", "media/../../etc/passwd",
    "/media/{app}/{device}-ABC.jpg", "media/{app}/../{app}/{device}-ABC.jpg", "media/{app}/{device}-../x.jpg",
    "media\\{app}\\{device}-ABC.jpg", "media/{app}/{device}-ABC.jpg\x00.png", "media/{app}/{device}-ABC",
    "media/not-a-uuid-not-a-uuid-not-a-uuid-xx/{device}-ABC.jpg", "media/{app}/{device}-ABC.jpg/",
    "x" * 501,
])
def test_a_malformed_path_is_a_validation_error(api, app, root, path: str) -> None:
    device = make_device(app)
    response = fetch(api, path.format(app=app.pk, device=device.pk))
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == "path"


def test_a_missing_path_is_a_validation_error(api, root) -> None:
    response = fetch(api, None)
    assert response.status_code == 400
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == "path"


def test_another_apps_media_is_not_found(api, root) -> None:
    other, other_token = make_app_with_token()
    media = store(other)
    response = fetch(api, media.path)
    assert response.status_code == 404
    assert error_of(response) == "not_found"
    assert fetch(ApiClient(other_token), media.path).status_code == 200


def test_a_path_rewritten_to_the_callers_app_is_not_found(api, app, root) -> None:
    other, _ = make_app_with_token()
    media = store(other)
    tampered = media.path.replace(str(other.pk), str(app.pk))
    (root / tampered).parent.mkdir(parents=True, exist_ok=True)
    (root / tampered).write_bytes(b"planted without a row")
    response = fetch(api, tampered)
    assert response.status_code == 404
    assert error_of(response) == "not_found"


def test_a_tampered_message_id_is_not_found(api, app, root) -> None:
    media = store(app)
    response = fetch(api, media.path.replace(".jpg", "X.jpg"))
    assert response.status_code == 404
    assert error_of(response) == "not_found"


def test_a_different_extension_is_not_found(api, app, root) -> None:
    media = store(app)
    response = fetch(api, media.path.replace(".jpg", ".png"))
    assert response.status_code == 404


def test_a_symlink_out_of_media_root_is_not_found(api, app, root, tmp_path: Path) -> None:
    media = store(app)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"top secret")
    (root / media.path).unlink()
    (root / media.path).symlink_to(secret)
    response = fetch(api, media.path)
    assert response.status_code == 404
    assert b"top secret" not in response.content


def test_a_symlink_to_another_apps_file_is_not_found(api, app, root) -> None:
    other, _ = make_app_with_token()
    theirs = store(other, b"their bytes")
    mine = store(app)
    (root / mine.path).unlink()
    (root / mine.path).symlink_to(root / theirs.path)
    response = fetch(api, mine.path)
    assert response.status_code == 404
    assert b"their bytes" not in response.content


def test_a_row_whose_stored_path_escapes_is_not_found(api, app, root, tmp_path: Path) -> None:
    media = store(app)
    (tmp_path / "outside.jpg").write_bytes(b"outside")
    # A row written by something else than storage_path (or a corrupted one) is still confined.
    MediaFile.objects.filter(pk=media.pk).update(path=f"media/{app.pk}/../../../outside.jpg")
    assert fetch(api, media.path).status_code == 404


def test_a_purged_file_is_not_found_with_a_hint(api, app, root) -> None:
    media = store(app)
    (root / media.path).unlink()
    response = fetch(api, media.path)
    assert response.status_code == 404
    assert error_of(response) == "not_found"
    error = response.json()["error"]
    assert error["details"]["reason"] == "purged"
    assert "resend" in error["recovery"]


def test_inbound_media_not_downloaded_yet_says_to_download_it_first(api, app, root) -> None:
    device = make_device(app)
    message = make_message(device, type=MessageType.IMAGE, media_mime_type="image/jpeg")
    response = fetch(api, storage_path(app.pk, device.pk, message.wa_id, "jpg"))
    assert response.status_code == 404
    assert error_of(response) == "not_found"
    error = response.json()["error"]
    assert error["details"]["reason"] == "not_downloaded"
    assert error["details"]["message_id"] == message.wa_id
    assert "download" in error["recovery"].lower()


def test_a_text_message_has_no_media(api, app, root) -> None:
    device = make_device(app)
    message = make_message(device, body="hi")
    response = fetch(api, storage_path(app.pk, device.pk, message.wa_id, "bin"))
    assert response.status_code == 404
    assert response.json()["error"]["details"]["reason"] == "no_media"


def test_another_apps_undownloaded_message_discloses_nothing(api, root) -> None:
    other, _ = make_app_with_token()
    device = make_device(other)
    message = make_message(device, type=MessageType.IMAGE)
    response = fetch(api, storage_path(other.pk, device.pk, message.wa_id, "jpg"))
    assert response.status_code == 404
    assert "reason" not in response.json()["error"]["details"]


def test_a_device_of_another_app_under_the_callers_app_id_discloses_nothing(api, app, root) -> None:
    other, _ = make_app_with_token()
    device = make_device(other)
    message = make_message(device, type=MessageType.IMAGE)
    response = fetch(api, storage_path(app.pk, device.pk, message.wa_id, "jpg"))
    assert response.status_code == 404
    assert "reason" not in response.json()["error"]["details"]


@pytest.mark.parametrize("token", [None, "wag_nope"])
def test_a_missing_or_bad_token_is_invalid_api_key(app, root, token) -> None:
    media = store(app)
    response = fetch(ApiClient(token), media.path)
    assert response.status_code == 401
    assert error_of(response) == "invalid_api_key"


def test_the_request_limiter_applies(api, app, root, settings) -> None:
    settings.API_RATE_LIMIT_PER_MIN = 1
    media = store(app)
    fetch(api, media.path)
    response = fetch(api, media.path)
    assert response.status_code == 429
    assert error_of(response) == "rate_limit_exceeded"


def test_the_file_is_closed_when_not_streamed(api, app, root, monkeypatch) -> None:
    opened = []
    real = downloads.open_media

    def spy(*args, **kwargs):
        media = real(*args, **kwargs)
        opened.append(media.file)
        return media

    monkeypatch.setattr(downloads, "open_media", spy)
    media = store(app)
    fetch(api, media.path, {"If-None-Match": f'"{media.sha256}"'})
    fetch(api, media.path, {"Range": "bytes=999999-"})
    assert len(opened) == 2
    assert all(handle.closed for handle in opened)


def test_the_openapi_document_describes_the_binary_answers() -> None:
    from whatsapp.api.site import api

    documented = api.get_openapi_schema()["paths"]["/media"]["get"]["responses"]
    assert {200, 206, 304, 400, 401, 404, 416, 429} <= set(documented)
    assert documented[200]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    assert "Content-Range" in documented[206]["headers"]
