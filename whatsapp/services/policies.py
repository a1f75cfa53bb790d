"""The contact whitelist (``ALLOWED_CONTACTS``, reference/mcp-tools.md §1.7), as every surface
applies it through the services.

The list is the device's own, else its app's, else the environment's; empty allows everything. A
target passes when it is a phone JID whose digits **equal** a phone entry (never a suffix match), a
LID whose known phone twin passes, or any JID listed literally (how groups and LIDs are allowed).
Targeted operations fail with ``PERMISSION_CONTACT_NOT_WHITELISTED`` naming the target; listings
drop what does not pass before paging.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from whatsapp import jids
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Contact, Device
from whatsapp.phones import normalize_phone

logger = logging.getLogger("whatsapp.policies")


@dataclass(frozen=True)
class Whitelist:
    phones: frozenset[str] = frozenset()  # digits
    exact: frozenset[str] = frozenset()   # JIDs listed literally

    @property
    def allows_everything(self) -> bool:
        return not self.phones and not self.exact

    @classmethod
    def parse(cls, entries: list[str] | str | None) -> Whitelist:
        items = entries.split(",") if isinstance(entries, str) else list(entries or ())
        phones, exact = set(), set()
        for item in (entry.strip() for entry in items):
            if not item:
                continue
            try:
                if "@" in item:
                    exact.add(jids.normalize(item))
                else:
                    phones.add(normalize_phone(item, "allowed_contacts"))
            except (ValueError, WhatsAppError):
                logger.warning("ignoring the invalid ALLOWED_CONTACTS entry %r", item)
        return cls(frozenset(phones), frozenset(exact))

    def allows(self, device: Device, jid: str) -> bool:
        if self.allows_everything:
            return True
        try:
            jid = jids.normalize(jid)
        except ValueError:
            return False
        if jid in self.exact:
            return True
        if jids.is_phone(jid):
            return jid.split("@", 1)[0] in self.phones
        if jids.is_lid(jid):
            twin = Contact.objects.filter(device=device, lid=jid).values_list("phone_jid", flat=True).first()
            return bool(twin) and (twin in self.exact or twin.split("@", 1)[0] in self.phones)
        return False

    def chat_filter(self, device: Device, field: str = "jid") -> Q:
        """A query condition keeping only the chats (``field``: their JID) the whitelist allows."""
        if self.allows_everything:
            return Q()
        phone_jids = [jids.phone_jid(digits) for digits in self.phones]
        allowed = set(self.exact) | set(phone_jids)
        allowed |= set(Contact.objects.filter(device=device, lid__isnull=False)
                       .filter(Q(phone_jid__in=allowed)).values_list("lid", flat=True))
        return Q(**{f"{field}__in": sorted(allowed)})


def whitelist_for(device: Device) -> Whitelist:
    """The device's whitelist: its own setting, else its app's, else ``ALLOWED_CONTACTS``."""
    if device.allowed_contacts is not None:
        return Whitelist.parse(device.allowed_contacts)
    app_value = Device.objects.filter(pk=device.pk).values_list("app__allowed_contacts", flat=True).first()
    if app_value is not None:
        return Whitelist.parse(app_value)
    return Whitelist.parse(settings.ALLOWED_CONTACTS)


def ensure_allowed(device: Device, *targets: str) -> None:
    """``PERMISSION_CONTACT_NOT_WHITELISTED`` unless every target passes the device's whitelist."""
    whitelist = whitelist_for(device)
    for target in targets:
        if not whitelist.allows(device, target):
            raise WhatsAppError(ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED,
                                f"{target} is not in the allowed contacts of this device.",
                                details={"jid": target})


def disabled_tools_for(device: Device) -> frozenset[str]:
    """MCP tools refused on this device (``DISABLED_TOOLS``): its own setting, else its app's, else the
    environment's. Names are exact and case-sensitive."""
    value = device.disabled_tools
    if value is None:
        value = Device.objects.filter(pk=device.pk).values_list("app__disabled_tools", flat=True).first()
    if value is None:
        value = settings.DISABLED_TOOLS
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(name.strip() for name in items or () if name.strip())
