"""Names the gateway keeps for people: custom display names, and names learnt from WhatsApp.

* A **custom name** (:func:`set_custom_name`) is local only, never sent to WhatsApp, and wins over
  every other name (reference/mcp-tools.md, Terms). It lives on the person's :class:`Contact`, which
  one person's phone JID and LIDs share, so it applies to the twins too.
* A **learnt name** (:func:`save_chat_name`, :func:`sync_names`) fills the name of the person's direct
  chats: only where it is empty or just the JID, unless ``force``; a custom name is never touched,
  and groups are never renamed here. A verified business name is also kept on the contact, where
  the display name falls back to it for a person with no chat yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Q

from whatsapp import jids
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, ChatKind, Contact, Device
from whatsapp.services import contacts
from whatsapp.services.directory import Directory, display_name, unified_chats
from whatsapp.services.policies import ensure_allowed, whitelist_for

MAX_CUSTOM_NAME = 100
SYNC_INTERVAL_S = 0.5  # reference §2.31: targets are looked up at least 500 ms apart
MAX_SYNC_ENTRIES = 50


def _person(entry: str, field: str) -> str:
    """A person's JID from a phone number or a JID (never a name, never a group)."""
    return contacts.person_jid(entry, field)


def _contact_of(device: Device, jid: str) -> Contact | None:
    return Contact.objects.filter(device=device).filter(Q(phone_jid=jid) | Q(lid=jid)).first()


# --- custom names ---------------------------------------------------------------------------------


def set_custom_name(device: Device, jid: str, name: str) -> tuple[str, str | None, str]:
    """Set (or, with an empty or blank ``name``, clear) the custom display name of a person.

    Returns ``(jid, the trimmed new name or None when cleared, the display name now shown)``.
    ``VALIDATION_ERROR`` for a bad phone number or JID, a group, or a name over 100 characters;
    ``PERMISSION_CONTACT_NOT_WHITELISTED`` when the person fails the whitelist. Works offline.
    """
    target = _person(jid, "jid")
    if not isinstance(name, str):
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "name must be text (\"\" clears the custom name).",
                            details={"field": "name"})
    value = name.strip()
    if len(value) > MAX_CUSTOM_NAME:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR,
                            f"A custom name has at most {MAX_CUSTOM_NAME} characters ({len(value)} given).",
                            details={"field": "name", "max": MAX_CUSTOM_NAME, "length": len(value)})
    ensure_allowed(device, target)
    if value:
        contact = Contact.for_jid(device.pk, target)
        if contact.custom_name != value:
            contact.custom_name = value
            contact.save(update_fields=["custom_name", "updated_at"])
    else:
        contact = _contact_of(device, target)
        if contact is not None and contact.custom_name:
            contact.custom_name = ""
            contact.save(update_fields=["custom_name", "updated_at"])
    return target, value or None, display_name(device, target)


# --- learnt names ---------------------------------------------------------------------------------


def _direct_chats(device: Device, directory: Directory, jid: str) -> list[Chat]:
    addresses = directory.twins(jid)
    contact = directory.contact(jid)
    query = Q(jid__in=addresses)
    if contact is not None:
        query |= Q(contact_id=contact.pk)
    return list(Chat.objects.filter(device=device, kind=ChatKind.DIRECT).filter(query))


def has_real_name(directory: Directory, jid: str) -> bool:
    """Whether one of the person's chats has a name that is not just one of their JIDs."""
    addresses = set(directory.twins(jid))
    names = [chat.name.strip() for chat in (directory.chat(address) for address in addresses) if chat is not None]
    return any(name and name not in addresses for name in names)


def save_chat_name(device: Device, jid: str, name: str, *, force: bool = False, verified: bool = False,
                   directory: Directory | None = None) -> bool:
    """Store ``name``, learnt from WhatsApp, as the name of the person's direct chats (twins included):
    only chats whose name is empty or a JID of theirs, every one with ``force``. A person with a custom
    name is left alone. A ``verified`` (business) name is also kept on the contact. Returns whether
    anything changed."""
    name = (name or "").strip()[:200]
    if not name:
        return False
    directory = directory or Directory(device, only=[jid])
    contact = directory.contact(jid)
    if contact is not None and contact.custom_name.strip():
        return False
    addresses = set(directory.twins(jid))
    changed = False
    for chat in _direct_chats(device, directory, jid):
        current = chat.name.strip()
        if current == name or (current and current not in addresses and not force):
            continue
        Chat.objects.filter(pk=chat.pk).update(name=name)
        changed = True
    if verified and (jids.is_phone(jid) or jids.is_lid(jid)):
        contact = contact or Contact.for_jid(device.pk, jid)
        if contact.business_name != name:
            Contact.objects.filter(pk=contact.pk).update(business_name=name)
            changed = True
    return changed


@dataclass(frozen=True)
class SyncRow:
    """One target of a sync: ``updated``, ``unchanged`` (the name was already stored), ``no_name``
    (WhatsApp and the contact store know none), ``skipped`` (a custom name, or already named) or
    ``error`` (the whitelist, an invalid entry, a failed lookup; ``reason`` says which)."""

    jid: str
    outcome: str
    name: str = ""
    reason: str = ""


@dataclass
class SyncReport:
    rows: list[SyncRow] = field(default_factory=list)

    def _count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def processed(self) -> int:
        """Targets looked at (skipped entries are not processed)."""
        return sum(1 for row in self.rows if row.outcome != "skipped")

    @property
    def updated(self) -> list[SyncRow]:
        return [row for row in self.rows if row.outcome == "updated"]

    @property
    def no_name(self) -> int:
        return self._count("no_name")

    @property
    def errors(self) -> list[SyncRow]:
        return [row for row in self.rows if row.outcome == "error"]

    @property
    def skipped(self) -> list[SyncRow]:
        return [row for row in self.rows if row.outcome == "skipped"]


def _targets(device: Device, entries: list[str] | None, force: bool, directory: Directory,
             report: SyncReport) -> list[str]:
    """The JIDs to sync (reference §2.31): listed entries (invalid ones reported as error rows, those
    with a custom name or, unless ``force``, a real name skipped), or every direct chat without a
    custom name whose name is missing or its JID (with ``force``: every direct chat without a custom
    name). Chats the whitelist hides are left out of the implicit set, as listings drop them."""
    targets: list[str] = []
    if entries is not None:
        for entry in entries:
            try:
                jid = _person(entry, "contacts")
            except WhatsAppError as error:
                report.rows.append(SyncRow(jid=str(entry), outcome="error", reason=error.message))
                continue
            if jid in targets:
                continue
            contact = directory.contact(jid)
            if contact is not None and contact.custom_name.strip():
                report.rows.append(SyncRow(jid=jid, outcome="skipped", reason="has a custom name"))
            elif not force and has_real_name(directory, jid):
                report.rows.append(SyncRow(jid=jid, outcome="skipped", reason="already named"))
            else:
                targets.append(jid)
        return targets
    for entry in unified_chats(device, allowed=whitelist_for(device), directory=directory):
        if entry.kind != ChatKind.DIRECT:
            continue
        contact = directory.contact(entry.jid)
        if contact is not None and contact.custom_name.strip():
            continue
        if not force and has_real_name(directory, entry.jid):
            continue
        targets.append(entry.jid)
    return targets


def _phone_twin(device: Device, directory: Directory, jid: str) -> str:
    """The phone JID to look a person up by: theirs, a known twin's, or WhatsApp's answer for a LID."""
    if not jids.is_lid(jid):
        return jid
    known = next((twin for twin in directory.twins(jid) if jids.is_phone(twin)), "")
    return known or contacts.phone_for_lid(device, jid) or jid


def _sync_one(device: Device, directory: Directory, jid: str, force: bool) -> SyncRow:
    if not whitelist_for(device).allows(device, jid):
        return SyncRow(jid=jid, outcome="error", reason="not in the allowed contacts of this device")
    try:
        lookup = _phone_twin(device, directory, jid)
        infos = contacts.user_info(device, [lookup])
    except WhatsAppError as error:
        return SyncRow(jid=jid, outcome="error", reason=f"{error.code.code}: {error.message}")
    info = next((i for i in infos if lookup in (i.get("jid"), i.get("phone_jid"), i.get("lid"))), {})
    verified = (info.get("verified_name") or "").strip()
    stored = contacts.stored_contact(device, jid, lookup, info.get("phone_jid") or "", info.get("lid") or "")
    name = verified or ((stored.full_name.strip() or stored.push_name.strip()) if stored else "")
    if not name:
        return SyncRow(jid=jid, outcome="no_name")
    fresh = Directory(device, only=[jid, lookup])  # twins the lookup may just have recorded
    changed = save_chat_name(device, jid, name, force=force, verified=bool(verified), directory=fresh)
    return SyncRow(jid=jid, outcome="updated" if changed else "unchanged", name=name)


def sync_names(device: Device, entries: list[str] | None = None, *, force: bool = False,
               sleep: Callable[[float], None] = time.sleep) -> SyncReport:
    """Learn people's names from WhatsApp (user info: the verified name), else from the contact store
    (full name, then push name), and store them as their direct chats' names (§2.31). ``entries``
    ``[]`` syncs nothing; ``None`` syncs the chat list. Targets are looked up one at a time, at least
    ``SYNC_INTERVAL_S`` apart; a failed lookup is an error row, never the end of the sync."""
    report = SyncReport()
    if entries is not None and len(entries) > MAX_SYNC_ENTRIES:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"At most {MAX_SYNC_ENTRIES} contacts at a time.",
                            details={"field": "contacts"})
    if entries is not None and not entries:
        return report
    directory = Directory(device)
    targets = _targets(device, entries, force, directory, report)
    last = None
    for jid in targets:
        if last is not None:
            wait = SYNC_INTERVAL_S - (time.monotonic() - last)
            if wait > 0:
                sleep(wait)
        last = time.monotonic()
        report.rows.append(_sync_one(device, directory, jid, force))
    return report
