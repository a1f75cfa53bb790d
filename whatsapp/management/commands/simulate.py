"""``manage.py simulate …``: play the phone and the rest of the WhatsApp network against a device that
runs the simulator engine.

The command and the engine (inside the device's runner) meet only in the database: actions are
written as rows, the engine applies each one once, and the command prints its result as JSON. When no
engine picks an action up in time the command fails with a clear error (exit code 3). Errors are JSON
on stderr (``{"error": {...}}``) with a non-zero exit code.
"""

from __future__ import annotations

import json
import mimetypes
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from whatsapp.engine.base import PERMANENT_REASONS, ChatState, Kind, ReceiptStatus
from whatsapp.engine.simulator import network, world
from whatsapp.engine.simulator.models import SimSession
from whatsapp.engine.simulator.network import SimulationError, error_body
from whatsapp.errors import WhatsAppError

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
DEFAULT_MIME = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/ogg; codecs=opus",
                "document": "application/octet-stream", "sticker": "image/webp"}


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class Command(BaseCommand):
    help = ("Play the phone and the WhatsApp network against a device running the simulator engine: scan the QR, "
            "enter a pairing code, deliver messages, inject faults, and print what the device sent.")

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")

        def device_command(name: str, help_text: str) -> CommandParser:
            command = sub.add_parser(name, help=help_text, description=help_text)
            command.add_argument("device", help="device UUID, or its name when unique")
            command.add_argument("--timeout", type=float, default=network.DEFAULT_WAIT_S,
                                 help="seconds to wait for the device's engine (default %(default)s)")
            return command

        def party(command: CommandParser) -> None:
            command.add_argument("--from", dest="sender", help="sender: phone number (+1514…) or JID")
            command.add_argument("--from-me", action="store_true", help="typed on the account's own phone")
            command.add_argument("--to", help="with --from-me: the chat (peer phone or JID)")
            command.add_argument("--lid", action="store_true", help="WhatsApp addresses the sender by LID")
            command.add_argument("--group", help="group JID the action happens in")

        scan = device_command("scan", "Scan the QR code on screen with the phone; links the device.")
        scan.add_argument("--phone", default="+15145550100",
                          help="the account's phone number (default %(default)s)")
        scan.add_argument("--name", default="", help="the account's push name")
        scan.add_argument("--lid", default="", help="the account's LID (generated when omitted)")
        scan.add_argument("--code", default="", help="scan this exact code (fails when it is not on screen)")

        enter = device_command("enter-code", "Type the device's pairing code into the phone.")
        enter.add_argument("code")
        enter.add_argument("--name", default="", help="the account's push name")

        device_command("rotate-qr", "Jump to the next QR code of the window now.")
        device_command("expire-qr", "End the QR window now.")

        message = device_command("message", "Deliver an incoming message (or one typed on the account's phone).")
        party(message)
        message.add_argument("--kind", default="text", choices=[k.value for k in Kind if k != Kind.UNKNOWN])
        message.add_argument("--text", default="", help="the text, or a media caption, or the poll question")
        message.add_argument("--file", help="media file (image, video, audio, document, sticker)")
        message.add_argument("--mime", default="", help="media MIME type (guessed from the file by default)")
        message.add_argument("--ptt", action="store_true", help="audio is a voice note")
        message.add_argument("--duration", type=int, help="audio/video seconds")
        message.add_argument("--lat", type=float)
        message.add_argument("--lon", type=float)
        message.add_argument("--address", default="")
        message.add_argument("--place", default="", help="location name")
        message.add_argument("--contact-name", default="")
        message.add_argument("--vcard", default="")
        message.add_argument("--option", action="append", default=[], help="poll option (repeat)")
        message.add_argument("--selectable", type=int, default=1, help="poll: options one may pick")
        message.add_argument("--quote", default="", help="wa_id of the quoted message")
        message.add_argument("--id", default="", help="the message id (generated like a phone's by default)")
        message.add_argument("--view-once", action="store_true")

        react = device_command("react", "React to a message ('' removes the reaction).")
        react.add_argument("target", help="wa_id of the message")
        react.add_argument("emoji")
        party(react)
        edit = device_command("edit", "Edit a message the sender wrote.")
        edit.add_argument("target")
        edit.add_argument("--text", required=True)
        party(edit)
        revoke = device_command("revoke", "Delete a message for everyone.")
        revoke.add_argument("target")
        party(revoke)

        receipt = device_command("receipt", "A receipt for messages the device sent.")
        receipt.add_argument("wa_ids", nargs="+")
        receipt.add_argument("--status", default="read", choices=[s.value for s in ReceiptStatus])
        receipt.add_argument("--from", dest="sender", help="in a group: the member who received/read")

        presence = device_command("presence", "A contact comes online or goes offline.")
        presence.add_argument("jid", help="phone number or JID")
        state = presence.add_mutually_exclusive_group(required=True)
        state.add_argument("--available", dest="available", action="store_true")
        state.add_argument("--unavailable", dest="available", action="store_false")
        presence.add_argument("--last-seen", default="", help="ISO time (with --unavailable)")

        typing = device_command("typing", "A contact types (or records, or pauses) in a chat.")
        party(typing)
        typing.add_argument("--state", default="composing", choices=[s.value for s in ChatState])

        history = device_command("history", "A history-sync batch of past messages.")
        history.add_argument("--count", type=int, default=20)
        history.add_argument("--progress", type=int)

        fault = device_command("fault", "Inject a fault.")
        fault.add_argument("kind", choices=network.FAULT_KINDS)
        fault.add_argument("--count", type=int, help="how many operations (or connect attempts, for drop) it hits")
        fault.add_argument("--seconds", type=float, help="temp-ban length; timeout delay; rate-limit retry-after "
                           "(WhatsApp seconds, scaled by the engine's time scale)")
        fault.add_argument("--reason", default="logged_out", choices=list(PERMANENT_REASONS),
                           help="logout: the permanent reason")
        fault.add_argument("--code", type=int, default=101, help="temp-ban: WhatsApp's reason code (101-106)")

        sent = sub.add_parser("sent", help="Print what the network received from the device.")
        sent.add_argument("device")
        sent.add_argument("--since", type=int, default=0, help="only records after this id")
        sent.add_argument("--kind", default="", help="send, reaction, edit, revoke, read, presence, chat_state, "
                          "subscribe_presence, group, logout")

        contact = sub.add_parser("add-contact", help="Add (or update) a person in the world.")
        contact.add_argument("--phone", required=True)
        contact.add_argument("--name", default="")
        contact.add_argument("--lid", default="", help="their LID, or 'auto'")
        contact.add_argument("--not-on-whatsapp", action="store_true")
        contact.add_argument("--about", default="")
        contact.add_argument("--no-reads", action="store_true", help="never sends read receipts")
        contact.add_argument("--online", action="store_true")
        contact.add_argument("--add-privacy", action="store_true", help="refuses being added to groups (403)")
        contact.add_argument("--verified-name", default="")

        group = sub.add_parser("add-group", help="Add a group to the world.")
        group.add_argument("--name", required=True)
        group.add_argument("--participant", action="append", default=[], help="phone or JID (repeat, or comma list)")
        group.add_argument("--admin", action="append", default=[], help="participants who are admins")
        group.add_argument("--owner", default="", help="super admin (default: the first participant)")
        group.add_argument("--topic", default="")
        group.add_argument("--announce", action="store_true", help="only admins may post")
        group.add_argument("--locked", action="store_true", help="only admins may edit the info")
        group.add_argument("--jid", default="")
        group.add_argument("--with-device", default="", help="add this linked device's account")
        group.add_argument("--device-role", default="member", choices=world.ROLES)
        group.add_argument("--me-role", default="", choices=("", *world.ROLES),
                           help="every account that links later joins with this role")

        sub.add_parser("world", help="Print the simulated world as JSON.")
        status = sub.add_parser("status", help="Session, QR on screen, pending actions and faults of a device.")
        status.add_argument("device")

    # --- running -------------------------------------------------------------------------------

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except SimulationError as exc:
            self.stderr.write(_json(exc.body))
            sys.exit(exc.returncode)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            world.ensure_world()
            result = getattr(self, "do_" + options["subcommand"].replace("-", "_"))(options)
        except (WhatsAppError, ValueError, LookupError, OSError) as exc:
            raise SimulationError(error_body(exc)) from exc
        self.stdout.write(_json(result))

    def _perform(self, options: dict[str, Any], action: str, payload: dict[str, Any]) -> Any:
        device = network.resolve_device(options["device"])
        return network.perform(device, action, payload, timeout_s=options["timeout"])

    @staticmethod
    def _party(options: dict[str, Any]) -> dict[str, Any]:
        if not options.get("sender") and not options.get("from_me"):
            raise ValueError("name the sender with --from (or use --from-me)")
        return {"from": options.get("sender") or "", "from_me": options.get("from_me", False),
                "to": options.get("to") or "", "lid": options.get("lid", False), "group": options.get("group") or ""}

    # --- linking -------------------------------------------------------------------------------

    def do_scan(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "scan", {"phone": o["phone"], "name": o["name"], "lid": o["lid"], "code": o["code"]})

    def do_enter_code(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "enter_code", {"code": o["code"], "name": o["name"]})

    def do_rotate_qr(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "rotate_qr", {})

    def do_expire_qr(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "expire_qr", {})

    # --- the network ---------------------------------------------------------------------------

    def do_message(self, o: dict[str, Any]) -> Any:
        payload = {**self._party(o), "kind": o["kind"], "text": o["text"], "quote": o["quote"], "id": o["id"],
                   "view_once": o["view_once"]}
        kind = o["kind"]
        if kind in MEDIA_KINDS:
            if not o["file"]:
                raise ValueError(f"a {kind} message needs --file")
            path = Path(o["file"])
            data = path.read_bytes()
            mime = o["mime"] or mimetypes.guess_type(path.name)[0] or DEFAULT_MIME[kind]
            payload["media"] = {**network.store_media(data, mime), "mime_type": mime, "file_name": path.name,
                                "ptt": o["ptt"], "duration_s": o["duration"]}
        elif kind == "location":
            if o["lat"] is None or o["lon"] is None:
                raise ValueError("a location needs --lat and --lon")
            payload["location"] = {"latitude": o["lat"], "longitude": o["lon"], "address": o["address"],
                                   "name": o["place"]}
        elif kind == "contact":
            name = o["contact_name"] or "Contact"
            vcard = o["vcard"] or f"BEGIN:VCARD\nVERSION:3.0\nFN:{name}\nEND:VCARD"
            payload["contact"] = {"name": name, "vcard": vcard}
        elif kind == "poll":
            if len(o["option"]) < 2:
                raise ValueError("a poll needs at least two --option")
            payload["poll"] = {"name": o["text"], "options": o["option"], "selectable_count": o["selectable"]}
        return self._perform(o, "message", payload)

    def do_react(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "react", {**self._party(o), "target": o["target"], "emoji": o["emoji"]})

    def do_edit(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "edit", {**self._party(o), "target": o["target"], "text": o["text"]})

    def do_revoke(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "revoke", {**self._party(o), "target": o["target"]})

    def do_receipt(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "receipt", {"wa_ids": o["wa_ids"], "status": o["status"], "from": o["sender"] or ""})

    def do_presence(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "presence", {"jid": o["jid"], "available": o["available"],
                                             "last_seen": o["last_seen"]})

    def do_typing(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "typing", {**self._party(o), "state": o["state"]})

    def do_history(self, o: dict[str, Any]) -> Any:
        return self._perform(o, "history", {"count": o["count"], "progress": o["progress"]})

    def do_fault(self, o: dict[str, Any]) -> Any:
        kind = o["kind"]
        if kind in network.IMMEDIATE_FAULTS:
            return self._perform(o, "fault", {"kind": kind, "count": o["count"], "seconds": o["seconds"],
                                              "reason": o["reason"], "code": o["code"]})
        device = network.resolve_device(o["device"])
        fault = network.store_fault(device, kind, count=o["count"] or 1, seconds=o["seconds"])
        return {"fault": kind, "stored": fault.as_dict()}

    # --- reading and the world -----------------------------------------------------------------

    def do_sent(self, o: dict[str, Any]) -> Any:
        return network.records(network.resolve_device(o["device"]), since=o["since"], kind=o["kind"])

    def do_status(self, o: dict[str, Any]) -> Any:
        return network.status(network.resolve_device(o["device"]))

    def do_world(self, o: dict[str, Any]) -> Any:
        return world.snapshot()

    def do_add_contact(self, o: dict[str, Any]) -> Any:
        return world.add_contact(o["phone"], name=o["name"], lid=o["lid"], on_whatsapp=not o["not_on_whatsapp"],
                                 about=o["about"], reads=not o["no_reads"], online=o["online"],
                                 add_privacy=o["add_privacy"], verified_name=o["verified_name"]).as_dict()

    def do_add_group(self, o: dict[str, Any]) -> Any:
        participants = [p.strip() for value in o["participant"] for p in value.split(",") if p.strip()]
        admins = [p.strip() for value in o["admin"] for p in value.split(",") if p.strip()]
        if o["with_device"]:
            device = network.resolve_device(o["with_device"])
            session = SimSession.objects.filter(device_id=device).first()
            if session is None:
                raise LookupError(f"device {device} is not linked: no account to add")
            participants.append(session.phone_jid)
            if o["device_role"] == "admin":
                admins.append(session.phone_jid)
            elif o["device_role"] == "superadmin":
                o["owner"] = session.phone_jid
        if not participants:
            raise ValueError("a group needs at least one --participant")
        group = world.add_group(o["name"], participants, admins=admins, owner=o["owner"], topic=o["topic"],
                                announce=o["announce"], locked=o["locked"], jid=o["jid"], me_role=o["me_role"])
        return group.as_dict()
