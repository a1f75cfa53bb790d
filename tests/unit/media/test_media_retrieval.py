"""media.retrieval: download_media (reference/mcp-tools.md §2.14 steps 4-9).

The end-to-end cases run the real pieces in one process: the simulator engine holds the media
"on WhatsApp's servers" (the exact bytes the phone sent), the message is stored by the ingest
service from the engine's own event, and the device's commands are executed by a real
``DeviceRunner``'s command handling in a thread (``RunnerSide``), as the runner process would.
The runner-side rules (retry, storage, extensions) are also driven directly with scripted engines.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from media import retrieval
from media.models import MediaDirection, MediaFile
from media.retrieval import RetrievedMedia, download_media, extension_for, fetch_to_store
from tests.factories import RunnerSide, connected_device, make_chat, make_device, make_message
from tests.support.simulator import ALICE, act
from tests.unit.media.test_file_guard import EXE, JPEG, M4A_ISOM, MP3_BARE, PDF, PNG
from whatsapp.engine.base import MediaRef, MessageReceived
from whatsapp.engine.simulator import network
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import CommandKind, Device, DeviceCommand, Direction, Message
from whatsapp.models.throttles import ThrottleHit
from whatsapp.runtime.runner import DeviceRunner
from whatsapp.services import ingest, throttles

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def raises(code: ErrorCode) -> Iterator[pytest.ExceptionInfo[WhatsAppError]]:
    with pytest.raises(WhatsAppError) as info:
        yield info
    assert info.value.code is code, f"{info.value!r} is not {code.code}"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path, monkeypatch) -> Path:
    settings.MEDIA_ROOT = tmp_path / "store"
    monkeypatch.setattr(retrieval, "RETRY_DELAY_S", 0)
    return tmp_path / "store"


@pytest.fixture
def device() -> Device:
    return connected_device()


@pytest.fixture
def runner(device, linked) -> Iterator[DeviceRunner]:
    """The device's runner with the linked simulator engine (its loop is not started: the test's
    RunnerSide thread hands it the commands, as the loop would)."""
    engine, _ = linked
    runner = DeviceRunner(str(device.pk), engine_name="simulator")
    runner.engine = engine
    yield runner
    if runner.waiter is not None:
        runner.waiter.close()


def receive(device: Device, linked, content: bytes, mime: str = "image/png", *, kind: str = "image",
            file_name: str = "p.png") -> Message:
    """The phone sends media to the account; the message is stored as the runner would store it."""
    engine, events = linked
    media = network.store_media(content, mime)
    act(engine, "message", {"from": ALICE, "kind": kind, "text": "look",
                            "media": {**media, "mime_type": mime, "file_name": file_name}})
    stored = ingest.ingest_message(device, events.wait_for(MessageReceived).message)
    assert stored is not None
    return stored


def served(runner: DeviceRunner) -> RunnerSide:
    return RunnerSide(runner.device.pk, runner._execute)


def tokens(device: Device) -> int:
    return ThrottleHit.objects.filter(key=f"download:{device.pk}").count()


# --- end to end through the runner ------------------------------------------------------------


def test_a_received_image_is_downloaded_to_the_media_store(device, linked, runner, media_root):
    message = receive(device, linked, PNG)
    with served(runner) as side:
        media = download_media(device, message)
    expected_path = media_root / "media" / str(device.app_id) / f"{device.pk}-{message.wa_id}.png"
    assert media == RetrievedMedia(media_type="image", mime="image/png", size=len(PNG), path=str(expected_path),
                                   file_name="p.png", chat_jid=ALICE, downloaded=True)
    assert expected_path.read_bytes() == PNG
    record = MediaFile.objects.get(message=message)
    assert (record.app_id, record.device_id, record.direction) == (device.app_id, device.pk, MediaDirection.INBOUND)
    assert record.path == f"media/{device.app_id}/{device.pk}-{message.wa_id}.png"
    assert record.sha256 == hashlib.sha256(PNG).hexdigest()
    [command] = side.handled
    assert (command.kind, command.payload) == (CommandKind.CALL,
                                               {"method": "download_media", "args": {"message_id": message.pk}})
    command.refresh_from_db()
    assert command.result == {"value": {"path": record.path, "size": len(PNG), "mime_type": "image/png"}}
    assert tokens(device) == 1


def test_a_stored_file_is_returned_without_a_download_or_a_token(device, linked, runner):
    message = receive(device, linked, PNG)
    with served(runner):
        first = download_media(device, message)
    again = download_media(device, message)
    assert again == RetrievedMedia(**{**first.__dict__, "downloaded": False})
    assert DeviceCommand.objects.count() == 1
    assert tokens(device) == 1


def test_a_stored_file_is_returned_even_when_the_device_is_offline(device, linked, runner):
    message = receive(device, linked, PNG)
    with served(runner):
        download_media(device, message)
    Device.objects.filter(pk=device.pk).update(connection_state="closed")
    assert download_media(device, message).downloaded is False


def test_a_file_removed_from_disk_is_downloaded_again(device, linked, runner):
    message = receive(device, linked, PNG)
    with served(runner):
        Path(download_media(device, message).path).unlink()
    with served(runner):
        media = download_media(device, message)
    assert media.downloaded is True
    assert Path(media.path).read_bytes() == PNG
    assert MediaFile.objects.filter(message=message).count() == 1
    assert tokens(device) == 2


def test_media_whatsapp_no_longer_holds_is_expired(device, linked, runner):
    message = receive(device, linked, PNG)
    network.expire_media(message.media_info["blob"])
    with served(runner), raises(ErrorCode.MEDIA_EXPIRED):
        download_media(device, message)
    assert not MediaFile.objects.exists()
    assert tokens(device) == 1  # a failure after the token still used it


def test_a_transient_failure_is_retried_once(device, linked, runner):
    engine, _ = linked
    message = receive(device, linked, PNG)
    network.store_fault(engine.device_id, "timeout", count=1, seconds=0)
    with served(runner):
        media = download_media(device, message)
    assert Path(media.path).read_bytes() == PNG


def test_a_second_transient_failure_is_a_download_failure(device, linked, runner):
    engine, _ = linked
    message = receive(device, linked, PNG)
    network.store_fault(engine.device_id, "timeout", count=2, seconds=0)
    with served(runner), raises(ErrorCode.MEDIA_DOWNLOAD_FAILED) as info:
        download_media(device, message)
    assert info.value.details == {"message_id": message.wa_id, "cause": "CONNECTION_TIMEOUT"}
    assert info.value.code.retryable


def test_a_runner_that_never_answers_is_a_download_failure(device, monkeypatch):
    monkeypatch.setattr(retrieval, "DOWNLOAD_TIMEOUT_S", 0.2)
    message = image_message(device)
    with raises(ErrorCode.MEDIA_DOWNLOAD_FAILED) as info:
        download_media(device, message)
    assert info.value.details["cause"] == "CONNECTION_TIMEOUT"
    assert tokens(device) == 1


def test_the_sender_s_label_yields_to_the_content(device, linked, runner):
    message = receive(device, linked, PNG, "image/jpeg", file_name="photo.jpg")
    with served(runner):
        media = download_media(device, message)
    assert (media.mime, Path(media.path).suffix, media.file_name) == ("image/png", ".png", "photo.jpg")


def test_a_document_keeps_its_file_name_and_type(device, linked, runner):
    message = receive(device, linked, PDF, "application/pdf", kind="document", file_name="Q3 report.pdf")
    with served(runner):
        media = download_media(device, message)
    assert (media.media_type, media.mime, media.file_name) == ("document", "application/pdf", "Q3 report.pdf")
    assert media.path.endswith(".pdf")


def test_an_executable_is_never_stored_with_its_extension(device, linked, runner):
    message = receive(device, linked, EXE, "application/x-msdownload", kind="document", file_name="setup.exe")
    with served(runner):
        media = download_media(device, message)
    assert media.path.endswith(f"{message.wa_id}.bin")
    assert media.file_name == "setup.exe"  # what the sender called it, reported, never used as a path
    assert Path(media.path).read_bytes() == EXE


# --- refusals before the token ----------------------------------------------------------------


def image_message(device: Device, **fields) -> Message:
    chat = device.chats.filter(jid=ALICE).first() or make_chat(device, ALICE)
    defaults = {"type": "image", "media_mime_type": "image/png", "media_size": len(PNG),
                "media_info": {"blob": "missing"}, "direction": Direction.INBOUND}
    return make_message(device, chat, **{**defaults, **fields})


def assert_nothing_happened(device: Device) -> None:
    assert tokens(device) == 0
    assert not DeviceCommand.objects.exists()


def test_a_message_without_media_is_no_media(device):
    with raises(ErrorCode.NO_MEDIA):
        download_media(device, image_message(device, type="text", media_info={}))
    with raises(ErrorCode.NO_MEDIA):
        download_media(device, image_message(device, media_info={}))  # nothing to download it with
    assert_nothing_happened(device)


def test_another_device_s_message_is_not_found(device):
    with raises(ErrorCode.NOT_FOUND):
        download_media(device, image_message(make_device()))
    assert_nothing_happened(device)


def test_an_offline_device_is_not_connected(device):
    message = image_message(device)
    Device.objects.filter(pk=device.pk).update(connection_state="closed")
    with raises(ErrorCode.MESSAGE_NOT_CONNECTED):
        download_media(device, message)
    assert_nothing_happened(device)


def test_the_quota_includes_the_expected_size(device, settings):
    settings.MEDIA_QUOTA_MB = 1
    MediaFile.objects.create(app=device.app, device=device, path="media/x/old.png", direction="in",
                             mime_type="image/png", size=1024 * 1024 - 10)
    with raises(ErrorCode.MEDIA_QUOTA_EXCEEDED) as info:
        download_media(device, image_message(device, media_size=11))
    assert info.value.details["incoming_bytes"] == 11
    assert_nothing_happened(device)


def test_an_oversized_media_is_refused_before_the_token(device, settings):
    settings.MEDIA_MAX_BYTES = 100
    with raises(ErrorCode.MEDIA_TOO_LARGE):
        download_media(device, image_message(device, media_size=101))
    assert_nothing_happened(device)


def test_the_download_limit_refuses_after_the_local_checks(device, settings):
    settings.DOWNLOAD_RATE_LIMIT_PER_MIN = 1
    throttles.take(device, "download")
    with raises(ErrorCode.MEDIA_RATE_LIMITED) as info:
        download_media(device, image_message(device))
    assert info.value.retry_after_s == 60
    assert not DeviceCommand.objects.exists()
    settings.MEDIA_QUOTA_MB = 1
    with raises(ErrorCode.MEDIA_QUOTA_EXCEEDED):  # the quota is checked before the token
        download_media(device, image_message(device, wa_id="BIG", media_size=2 * 1024 * 1024))


def test_an_own_sent_file_is_returned_from_the_store(device, media_root):
    message = image_message(device, direction=Direction.OUTBOUND, from_me=True, media_info={})
    relative = f"media/{device.app_id}/{device.pk}-{message.wa_id}.png"
    (media_root / relative).parent.mkdir(parents=True)
    (media_root / relative).write_bytes(PNG)
    MediaFile.objects.create(app=device.app, device=device, message=message, path=relative, direction="out",
                             mime_type="image/png", size=len(PNG))
    media = download_media(device, message)
    assert (media.downloaded, media.path) == (False, str(media_root / relative))
    assert_nothing_happened(device)


# --- the runner's side ------------------------------------------------------------------------


class ScriptedEngine:
    """An engine whose downloads follow a script: each entry is returned, or raised if an error."""

    def __init__(self, *script: bytes | WhatsAppError) -> None:
        self.script = list(script)
        self.calls: list[MediaRef] = []

    def download_media(self, media: MediaRef) -> bytes:
        self.calls.append(media)
        step = self.script.pop(0)
        if isinstance(step, WhatsAppError):
            raise step
        return step


def test_the_engine_gets_the_stored_download_information(device):
    message = image_message(device, media_sha256="ab" * 32, media_file_name="p.png",
                            media_info={"direct_path": "/v/t62/x", "media_key": "k"})
    engine = ScriptedEngine(PNG)
    assert fetch_to_store(engine, device, message.pk)["size"] == len(PNG)
    assert engine.calls == [MediaRef(mime_type="image/png", size=len(PNG), sha256="ab" * 32, file_name="p.png",
                                     locator={"direct_path": "/v/t62/x", "media_key": "k"})]


def test_only_transient_failures_are_retried(device):
    transient = WhatsAppError(ErrorCode.MEDIA_DOWNLOAD_FAILED, "download failed with status code 500")
    engine = ScriptedEngine(transient, PNG)
    fetch_to_store(engine, device, image_message(device).pk)
    assert len(engine.calls) == 2
    engine = ScriptedEngine(transient, transient, PNG)
    with raises(ErrorCode.MEDIA_DOWNLOAD_FAILED):
        fetch_to_store(engine, device, image_message(device, wa_id="B").pk)
    assert len(engine.calls) == 2
    engine = ScriptedEngine(WhatsAppError(ErrorCode.MEDIA_EXPIRED), PNG)
    with raises(ErrorCode.MEDIA_EXPIRED):
        fetch_to_store(engine, device, image_message(device, wa_id="C").pk)
    assert len(engine.calls) == 1


def test_a_file_stored_meanwhile_is_not_downloaded_again(device):
    message = image_message(device)
    fetch_to_store(ScriptedEngine(PNG), device, message.pk)
    engine = ScriptedEngine()
    assert fetch_to_store(engine, device, message.pk)["path"].endswith(".png")
    assert engine.calls == []


def test_the_real_size_is_checked_against_the_limit_and_the_quota(device, settings):
    settings.MEDIA_MAX_BYTES = 100
    with raises(ErrorCode.MEDIA_TOO_LARGE):
        fetch_to_store(ScriptedEngine(b"\0" * 101), device, image_message(device, media_size=None).pk)
    settings.MEDIA_MAX_BYTES = 10_000
    settings.MEDIA_QUOTA_MB = 1
    MediaFile.objects.create(app=device.app, device=device, path="media/x/old.png", direction="in",
                             mime_type="image/png", size=1024 * 1024 - 100)
    with raises(ErrorCode.MEDIA_QUOTA_EXCEEDED):
        fetch_to_store(ScriptedEngine(b"\x01" * 101), device, image_message(device, wa_id="Q", media_size=None).pk)
    assert MediaFile.objects.count() == 1
    assert not list(Path(settings.MEDIA_ROOT).rglob("*Q*"))


def test_a_symlink_planted_at_the_target_is_replaced_not_written_through(device, media_root, tmp_path):
    message = image_message(device)
    target = media_root / "media" / str(device.app_id) / f"{device.pk}-{message.wa_id}.png"
    target.parent.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me")
    target.symlink_to(victim)
    fetch_to_store(ScriptedEngine(PNG), device, message.pk)
    assert victim.read_bytes() == b"keep me"
    assert not target.is_symlink()
    assert target.read_bytes() == PNG


def test_a_path_outside_the_app_directory_is_refused(device, monkeypatch):
    monkeypatch.setattr(retrieval, "storage_path", lambda *args: f"media/{device.app_id}/../elsewhere/x.png")
    with raises(ErrorCode.MEDIA_DOWNLOAD_FAILED):
        fetch_to_store(ScriptedEngine(PNG), device, image_message(device).pk)
    assert not MediaFile.objects.exists()


@pytest.mark.parametrize(
    ("content", "declared", "name", "mime", "extension"),
    [
        (PNG, "image/png", "", "image/png", "png"),
        (JPEG, "image/jpeg", "", "image/jpeg", "jpg"),
        (PNG, "image/jpeg", "", "image/png", "png"),  # the content wins over a wrong label
        (M4A_ISOM, "audio/mp4", "voice", "audio/mp4", "m4a"),  # the label is more precise than libmagic
        (MP3_BARE, "audio/mpeg", "", "audio/mpeg", "mp3"),
        (b"\x01\x02\x03" * 40, "application/pdf", "", "application/pdf", "pdf"),  # unknown content: the label
        (EXE, "application/x-msdownload", "setup.exe", "application/vnd.microsoft.portable-executable", "bin"),
        (b"#!/bin/sh\necho hi\n", "text/plain", "", "text/x-shellscript", "bin"),
    ],
)
def test_the_stored_type_and_extension(device, content, declared, name, mime, extension):
    message = image_message(device, type="document", media_mime_type=declared, media_file_name=name)
    result = fetch_to_store(ScriptedEngine(content), device, message.pk)
    assert result["mime_type"] == mime
    assert result["path"] == f"media/{device.app_id}/{device.pk}-{message.wa_id}.{extension}"


@pytest.mark.parametrize(
    ("mime", "extension"),
    [("image/jpeg", "jpg"), ("image/png", "png"), ("video/mp4", "mp4"), ("audio/ogg; codecs=opus", "ogg"),
     ("audio/mpeg", "mp3"), ("audio/mp4", "m4a"), ("text/csv", "csv"), ("application/pdf", "pdf"),
     ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
     ("application/x-msdownload", "bin"), ("application/x-sh", "bin"), ("application/java-archive", "bin"),
     ("application/x-made-up", "bin"), ("", "bin")],
)
def test_extensions_come_from_the_type_and_are_never_dangerous(mime, extension):
    assert extension_for(mime) == extension


def test_the_runner_refuses_unknown_messages(device):
    with raises(ErrorCode.NOT_FOUND):
        fetch_to_store(ScriptedEngine(PNG), device, 999_999)
    other = image_message(make_device())
    with raises(ErrorCode.NOT_FOUND):
        fetch_to_store(ScriptedEngine(PNG), device, other.pk)
