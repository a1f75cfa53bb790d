"""``manage.py device …``: operate devices from a terminal through the same services as every surface.

    python manage.py device create "Support line"          # prints the device and its first QR
    python manage.py device pair "Support line" +15145550100
    python manage.py device send "Support line" --to +15145550123 --text "Hello"
    python manage.py device messages "Support line"
    python manage.py device disconnect "Support line" / destroy "Support line" / list / show

Output is JSON on stdout; errors are the enum's JSON envelope on stderr with a non-zero exit.
"""

from __future__ import annotations

import json
import mimetypes
import sys
from pathlib import Path
from typing import Any

import segno
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from whatsapp.engine.base import Kind
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import App, Device, Message, Tenant
from whatsapp.services import devices as device_services
from whatsapp.services.lookup import find_device
from whatsapp.services.messages import Outgoing, send_message
from whatsapp.services.payloads import message_payload


def device_json(device: Device) -> dict[str, Any]:
    return {
        "device_id": str(device.pk), "device_name": device.name, "app_id": str(device.app_id),
        "status": device.status, "connection_state": device.connection_state, "phone_jid": device.phone_jid or None,
        "lid": device.lid or None, "linked_at": device.linked_at, "qr_code": device.qr_code or None,
        "qr_expires_at": device.qr_expires_at, "last_error_code": device.last_error_code or None,
    }


class Command(BaseCommand):
    help = "Create, link, pair, send through, disconnect and destroy devices."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a device and print its first QR code.")
        create.add_argument("name")
        create.add_argument("--app", default="", help="App id or name (default: the only app; created if none).")
        create.add_argument("--show-qr", action="store_true", help="Also draw the QR code on stderr.")
        sub.add_parser("list", help="List devices.")
        for name in ("show", "link", "disconnect", "destroy", "messages"):
            action = sub.add_parser(name)
            action.add_argument("device", help="Device id or name.")
            if name == "link":
                action.add_argument("--show-qr", action="store_true")
            if name == "messages":
                action.add_argument("--limit", type=int, default=20)
        pair = sub.add_parser("pair", help="Request a pairing code for a phone number.")
        pair.add_argument("device")
        pair.add_argument("phone")
        send = sub.add_parser("send", help="Send a message.")
        send.add_argument("device")
        send.add_argument("--to", required=True)
        send.add_argument("--text", default="")
        send.add_argument("--file", default="", help="Send this file (image, video, audio or document).")
        send.add_argument("--kind", default="", choices=[k.value for k in Kind if k != Kind.UNKNOWN])
        send.add_argument("--wait", type=float, default=None, help="Seconds to wait for WhatsApp's ack.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = getattr(self, f"do_{options['action']}")(options)
        except WhatsAppError as error:
            sys.stderr.write(json.dumps(error.to_rest(None), cls=DjangoJSONEncoder) + "\n")
            raise CommandError(f"{error.code.code}: {error.message}", returncode=2) from None
        self.stdout.write(json.dumps(result, cls=DjangoJSONEncoder, indent=2))

    def _print_qr(self, device: Device) -> None:
        if device.qr_code:
            segno.make(device.qr_code, error="l").terminal(out=sys.stderr, compact=True)

    def do_create(self, options: dict[str, Any]) -> dict[str, Any]:
        app = self._app(options["app"])
        device = device_services.create_device(app, options["name"])
        if options["show_qr"]:
            self._print_qr(device)
        return device_json(device)

    def _app(self, ref: str) -> App:
        if ref:
            app = App.objects.filter(name=ref).first() if not _is_uuid(ref) else App.objects.filter(pk=ref).first()
            if app is None:
                raise WhatsAppError(ErrorCode.NOT_FOUND, f"No app {ref!r}.")
            return app
        apps = list(App.objects.all()[:2])
        if len(apps) == 1:
            return apps[0]
        if apps:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "Several apps exist; choose one with --app.")
        with transaction.atomic():
            tenant, _ = Tenant.objects.get_or_create(slug="default", defaults={"name": "Default"})
            app, token = App.create_with_token(tenant, "default")
        self.stderr.write(f"Created app 'default' (id {app.pk}). Its API token, shown only now: {token}")
        return app

    def do_list(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [device_json(d) for d in Device.objects.order_by("created_at")]

    def do_show(self, options: dict[str, Any]) -> dict[str, Any]:
        return device_json(find_device(options["device"]))

    def do_link(self, options: dict[str, Any]) -> dict[str, Any]:
        device = device_services.link_device(find_device(options["device"]))
        if options["show_qr"]:
            self._print_qr(device)
        return device_json(device)

    def do_pair(self, options: dict[str, Any]) -> dict[str, Any]:
        device = find_device(options["device"])
        code = device_services.pair_device(device, options["phone"])
        return {"device_id": str(device.pk), "pairing_code": code}

    def do_disconnect(self, options: dict[str, Any]) -> dict[str, Any]:
        return device_json(device_services.disconnect_device(find_device(options["device"])))

    def do_destroy(self, options: dict[str, Any]) -> dict[str, Any]:
        return device_json(device_services.destroy_device(find_device(options["device"])))

    def do_send(self, options: dict[str, Any]) -> dict[str, Any]:
        device = find_device(options["device"])
        media, mime_type, file_name = None, "", ""
        kind = Kind(options["kind"]) if options["kind"] else Kind.TEXT
        if options["file"]:
            path = Path(options["file"])
            if not path.is_file():
                raise WhatsAppError(ErrorCode.MEDIA_FILE_NOT_FOUND, details={"path": str(path)})
            media, file_name = path.read_bytes(), path.name
            mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if not options["kind"]:
                major = mime_type.split("/")[0]
                kind = {"image": Kind.IMAGE, "video": Kind.VIDEO, "audio": Kind.AUDIO}.get(major, Kind.DOCUMENT)
        message = send_message(device, Outgoing(to=options["to"], kind=kind, text=options["text"], media=media,
                                                mime_type=mime_type, file_name=file_name), wait_s=options["wait"])
        return message_payload(message)

    def do_messages(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        device = find_device(options["device"])
        messages = Message.objects.filter(device=device).select_related("chat").order_by("-timestamp", "-id")
        return [message_payload(m) for m in messages[: options["limit"]]]


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
