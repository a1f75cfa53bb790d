"""download_media across processes: the phone (``simulate message``) sends a picture, the fleet's runner
stores the message, the test process asks for the media (as the MCP tool does), and the runner process
downloads it from the simulated media servers and writes the file — which the test process then reads.
Nothing is mocked; the bytes never cross the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.models import MediaFile
from media.retrieval import download_media
from tests.integration import test_fleet_runtime as runtime
from tests.integration.test_fleet_message_types import ALICE, deliver, png_bytes, sha256
from tests.integration.test_fleet_runtime import PEER, connected_device
from whatsapp.engine.simulator import network
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import DeviceCommand

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

gateway_env = runtime.gateway_env
fleet = runtime.fleet


def test_a_received_picture_is_downloaded_by_the_runner_process(gateway_env, fleet, tmp_path, settings):
    device = connected_device(gateway_env)
    png = png_bytes(5, 3)
    picture = tmp_path / "photo.png"
    picture.write_bytes(png)
    message = deliver(gateway_env, device, "--from", PEER, "--kind", "image", "--file", str(picture))

    media = download_media(device, message)
    assert (media.downloaded, media.mime, media.size, media.chat_jid, media.file_name) == (
        True, "image/png", len(png), ALICE, "photo.png")
    assert Path(media.path).read_bytes() == png
    assert Path(media.path).is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    assert MediaFile.objects.get(message=message).sha256 == sha256(png)
    command = DeviceCommand.objects.get(device=device, kind="call")
    assert command.result == {"value": {"path": MediaFile.objects.get(message=message).path, "size": len(png),
                                        "mime_type": "image/png"}}

    again = download_media(device, message)
    assert (again.downloaded, again.path) == (False, media.path)
    assert DeviceCommand.objects.filter(device=device, kind="call").count() == 1


def test_expired_media_is_reported_as_expired(gateway_env, fleet, tmp_path):
    device = connected_device(gateway_env)
    picture = tmp_path / "photo.png"
    picture.write_bytes(png_bytes())
    message = deliver(gateway_env, device, "--from", PEER, "--kind", "image", "--file", str(picture))
    network.expire_media(message.media_info["blob"])
    with pytest.raises(WhatsAppError) as info:
        download_media(device, message)
    assert info.value.code is ErrorCode.MEDIA_EXPIRED
    assert not MediaFile.objects.filter(message=message).exists()
