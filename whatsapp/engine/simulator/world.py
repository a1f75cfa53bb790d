"""The simulated world: who is on WhatsApp, their LID twins, and the groups — seeded from
``fixtures/world.json`` on first use and extended by ``simulate add-contact``/``add-group`` or by groups
the engine creates. Shared by the engine and the ``simulate`` command (both run these functions)."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.db import IntegrityError

from whatsapp import jids
from whatsapp.engine.simulator.db import retrying
from whatsapp.engine.simulator.models import WorldContact, WorldGroup

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "world.json"
INVITE_PREFIX = "https://chat.whatsapp.com/"
ROLES = ("member", "admin", "superadmin")
_ALNUM = string.ascii_letters + string.digits
_NON_DIGITS = re.compile(r"[^0-9]")


# --- identifiers -----------------------------------------------------------------------------


def new_lid() -> str:
    """An opaque 15-digit LID such as ``250834713608221@lid``."""
    return f"{secrets.choice('12')}{secrets.randbelow(10**14):014d}@{jids.LID_SERVER}"


def new_group_jid() -> str:
    """A modern group JID (``120363…@g.us``)."""
    return f"120363{secrets.randbelow(10**12):012d}@{jids.GROUP_SERVER}"


def new_invite_code() -> str:
    """A 22-character alphanumeric invite code (``https://chat.whatsapp.com/<code>``)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(22))


def new_phone_message_id() -> str:
    """An id as a phone generates it: iOS ``3A`` + 18 hex, or Android 32 hex (never validate these)."""
    if secrets.randbelow(2):
        return "3A" + secrets.token_hex(9).upper()
    return secrets.token_hex(16).upper()


def new_companion_message_id() -> str:
    """whatsmeow's ``GenerateMessageID`` shape: ``3EB0`` + 18 hex = 22 characters."""
    return "3EB0" + secrets.token_hex(9).upper()


# --- addresses -------------------------------------------------------------------------------


def phone_digits(text: str) -> str:
    """The digits of a phone number as typed (``+1 514-555-0100`` → ``15145550100``)."""
    return _NON_DIGITS.sub("", text or "")


def parse_address(text: str) -> str:
    """A JID from a phone number (``+15145550100``) or a JID; ValueError when it is neither."""
    text = (text or "").strip()
    if "@" in text:
        return jids.normalize(text)
    digits = phone_digits(text)
    if len(digits) < 7:
        raise ValueError(f"not a phone number or JID: {text!r}")
    return jids.phone_jid(digits)


def contact_for(jid: str) -> WorldContact | None:
    """The world's entry for a phone JID or a LID."""
    try:
        user_jid = jids.normalize(jid)
    except ValueError:
        return None
    if jids.is_lid(user_jid):
        query = WorldContact.objects.filter(lid=user_jid)
    elif jids.is_phone(user_jid):
        query = WorldContact.objects.filter(phone_jid=user_jid)
    else:
        return None
    return retrying(query.first, atomic=False)


def group(jid: str) -> WorldGroup | None:
    return retrying(WorldGroup.objects.filter(jid=jid).first, atomic=False)


def twins(jid: str) -> tuple[str, str]:
    """``(phone_jid, lid)`` of a person as far as the world knows (``""`` for an unknown half)."""
    return twins_of(jid, contact_for(jid))


def twins_of(jid: str, contact: WorldContact | None) -> tuple[str, str]:
    """:func:`twins` given the world's entry for ``jid`` (``contact_for(jid)``)."""
    if contact is not None:
        return contact.phone_jid, contact.lid
    if jids.is_lid(jid):
        return "", jids.normalize(jid)
    return (jids.normalize(jid), "") if jids.is_phone(jid) else ("", "")


# --- seeding and growth ----------------------------------------------------------------------


def ensure_world() -> None:
    """Seed the fixture world once (idempotent, safe when two processes race)."""
    if WorldContact.objects.filter(source="fixture").exists():
        return
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))

    def seed() -> None:
        if WorldContact.objects.filter(source="fixture").exists():
            return
        for entry in data["contacts"]:
            _upsert_contact(entry, source="fixture")
        for entry in data["groups"]:
            participants = [{"jid": jids.phone_jid(phone), "role": role} for phone, role in entry["participants"]]
            WorldGroup.objects.get_or_create(jid=entry["jid"], defaults={
                "name": entry["name"], "topic": entry.get("topic", ""),
                "owner_jid": jids.phone_jid(entry["owner"]) if entry.get("owner") else "",
                "is_announce": entry.get("announce", False), "is_locked": entry.get("locked", False),
                "invite_code": entry.get("invite_code") or new_invite_code(),
                "participants": participants, "me_role": entry.get("me_role", ""), "source": "fixture",
            })

    with contextlib.suppress(IntegrityError):  # another process seeded at the same moment
        retrying(seed)


def _upsert_contact(entry: dict[str, Any], source: str) -> WorldContact:
    phone = jids.phone_jid(phone_digits(entry["phone"]))
    lid = entry.get("lid") or ""
    if lid and "@" not in lid:
        lid = f"{lid}@{jids.LID_SERVER}"
    fields = {
        "name": entry.get("name", ""), "lid": lid, "on_whatsapp": entry.get("on_whatsapp", True),
        "about": entry.get("about", ""), "picture_id": entry.get("picture_id", ""),
        "verified_name": entry.get("verified_name", ""), "reads": entry.get("reads", True),
        "online": entry.get("online", False), "add_privacy": entry.get("add_privacy", False), "source": source,
    }
    contact, _ = WorldContact.objects.update_or_create(phone_jid=phone, defaults=fields)
    return contact


def add_contact(phone: str, *, name: str = "", lid: str = "", on_whatsapp: bool = True, about: str = "",
                reads: bool = True, online: bool = False, add_privacy: bool = False,
                verified_name: str = "") -> WorldContact:
    """Add (or update) a person. ``lid="auto"`` gives them a generated LID twin."""
    ensure_world()
    digits = phone_digits(phone)
    if len(digits) < 7 or digits.startswith("0"):
        raise ValueError(f"not an international phone number: {phone!r}")
    if lid == "auto":
        lid = new_lid()
    elif lid:
        lid = jids.normalize(lid if "@" in lid else f"{lid}@{jids.LID_SERVER}")
        if not jids.is_lid(lid):
            raise ValueError(f"not a LID: {lid!r}")
    entry = {"phone": digits, "name": name, "lid": lid, "on_whatsapp": on_whatsapp, "about": about,
             "reads": reads, "online": online, "add_privacy": add_privacy, "verified_name": verified_name}
    return retrying(lambda: _upsert_contact(entry, source="added"))


def add_group(name: str, participants: list[str], *, admins: Iterable[str] = (), owner: str = "",
              topic: str = "", announce: bool = False, locked: bool = False, jid: str = "",
              me_role: str = "", source: str = "added") -> WorldGroup:
    """Add a group; participants are phone numbers or phone JIDs (the owner is its super admin)."""
    ensure_world()
    members = [parse_address(p) for p in participants]
    admin_jids = {parse_address(a) for a in admins}
    owner_jid = parse_address(owner) if owner else (members[0] if members else "")
    if owner_jid and owner_jid not in members:
        members.insert(0, owner_jid)
    rows = []
    for member in dict.fromkeys(members):
        if not jids.is_phone(member):
            raise ValueError(f"participants are phone numbers or phone JIDs: {member!r}")
        role = "superadmin" if member == owner_jid else "admin" if member in admin_jids else "member"
        rows.append({"jid": member, "role": role})
    if me_role and me_role not in ROLES:
        raise ValueError(f"me_role must be one of {', '.join(ROLES)}")
    group_jid = jids.normalize(jid) if jid else new_group_jid()
    if not jids.is_group(group_jid):
        raise ValueError(f"not a group JID: {jid!r}")
    return retrying(lambda: WorldGroup.objects.create(
        jid=group_jid, name=name, topic=topic, owner_jid=owner_jid, is_announce=announce, is_locked=locked,
        invite_code=new_invite_code(), participants=rows, me_role=me_role, source=source,
    ))


def ensure_account(phone_jid: str, lid: str = "", name: str = "") -> tuple[str, str]:
    """The linking account as a person of the world: keeps (or gives) it a LID, and joins it to the
    groups every linked account belongs to. Returns ``(phone_jid, lid)``."""
    ensure_world()

    def work() -> tuple[str, str]:
        contact = WorldContact.objects.filter(phone_jid=phone_jid).first()
        if contact is None:
            contact = WorldContact.objects.create(phone_jid=phone_jid, lid=lid or new_lid(), name=name,
                                                  source="account")
        elif (lid and contact.lid != lid) or not contact.lid:
            contact.lid = lid or new_lid()
            contact.save(update_fields=["lid"])
        if not contact.on_whatsapp:
            contact.on_whatsapp = True
            contact.save(update_fields=["on_whatsapp"])
        for auto in WorldGroup.objects.exclude(me_role=""):
            if not auto.role_of(phone_jid):
                auto.participants = [*auto.participants, {"jid": phone_jid, "role": auto.me_role}]
                auto.save(update_fields=["participants"])
        return contact.phone_jid, contact.lid

    return retrying(work)


def groups_of(phone_jid: str) -> list[WorldGroup]:
    return [g for g in retrying(lambda: list(WorldGroup.objects.all()), atomic=False) if g.role_of(phone_jid)]


def invite_code_of(text: str) -> str:
    """The code of an invite link, or the code itself."""
    text = (text or "").strip()
    return text[len(INVITE_PREFIX):] if text.startswith(INVITE_PREFIX) else text


def snapshot() -> dict[str, Any]:
    """The whole world as JSON-ready data."""
    ensure_world()
    return {"contacts": [c.as_dict() for c in WorldContact.objects.all()],
            "groups": [g.as_dict() for g in WorldGroup.objects.all()]}
