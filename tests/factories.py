"""Small helpers that create domain objects for tests: plain functions, unique names by default."""

from __future__ import annotations

import itertools
from typing import Any

from approvals.models import Approval
from whatsapp.models import App, Chat, Contact, Device, Direction, Message, Tenant

_counter = itertools.count(1)


def _next() -> int:
    return next(_counter)


def make_tenant(name: str | None = None, **fields: Any) -> Tenant:
    n = _next()
    return Tenant.objects.create(name=name or f"Tenant {n}", slug=fields.pop("slug", f"tenant-{n}"), **fields)


def make_app_with_token(tenant: Tenant | None = None, name: str | None = None, **fields: Any) -> tuple[App, str]:
    """An app and its bearer token (the only time the token is visible)."""
    return App.create_with_token(tenant or make_tenant(), name or f"app-{_next()}", **fields)


def make_app(tenant: Tenant | None = None, name: str | None = None, **fields: Any) -> App:
    return make_app_with_token(tenant, name, **fields)[0]


def make_device(app: App | None = None, name: str | None = None) -> Device:
    """A fresh device (status ``qr_generated``, no QR yet) created through ``Device.create``."""
    return Device.create(app or make_app(), name or f"device-{_next()}")


def make_connected_device(app: App | None = None, name: str | None = None,
                          phone_jid: str = "15550001111@s.whatsapp.net", lid: str = "") -> Device:
    device = make_device(app, name)
    device.mark_connected(phone_jid, lid=lid)
    return device


def make_chat(device: Device, jid: str = "15551234567@s.whatsapp.net", **fields: Any) -> Chat:
    fields.setdefault("kind", Chat.kind_of(jid))
    return Chat.objects.create(device=device, jid=jid, **fields)


def make_contact(device: Device, *, phone_jid: str | None = None, lid: str | None = None, **fields: Any) -> Contact:
    return Contact.objects.create(device=device, phone_jid=phone_jid, lid=lid, **fields)


def make_message(device: Device, chat: Chat | None = None, wa_id: str | None = None, **fields: Any) -> Message:
    fields.setdefault("direction", Direction.INBOUND)
    return Message.objects.create(
        device=device, chat=chat or make_chat(device, f"1555{_next():07d}@s.whatsapp.net"),
        wa_id=wa_id or f"WAID{_next()}", **fields,
    )


def make_approval(device: Device, recipient_jid: str = "15551234567@s.whatsapp.net", **fields: Any) -> Approval:
    fields.setdefault("action", "Deploy to production")
    return Approval.objects.create(device=device, recipient_jid=recipient_jid, **fields)
