"""WhatsApp addresses (JIDs): the three kinds the gateway routes to and how to compare them.

* phone JID ``<digits>@s.whatsapp.net``; LID ``<digits>@lid`` (a privacy identifier for the same
  person); group ``<id>@g.us``. Our own JID may carry a device suffix (``<digits>:<n>@…``) that is
  stripped before identities are compared.

Pure functions, no Django: the engine adapters, the services and the models all use them.
"""

from __future__ import annotations

import re

PHONE_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
GROUP_SERVER = "g.us"
SERVERS = (PHONE_SERVER, LID_SERVER, GROUP_SERVER)

# ASCII only: str.isdigit() and \d also accept Arabic-Indic, superscript and fullwidth digits.
_JID = re.compile(r"^(?P<user>[0-9A-Za-z.\-]+?)(?::(?P<device>[0-9]+))?@(?P<server>[a-z.]+)$", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def split(jid: str) -> tuple[str, str]:
    """``(user, server)`` of a well-formed JID with its device suffix removed; ValueError otherwise."""
    match = _JID.match(jid.strip())
    if not match or match["server"] not in SERVERS:
        raise ValueError(f"not a WhatsApp JID: {jid!r}")
    user, server = match["user"], match["server"]
    if server in (PHONE_SERVER, LID_SERVER) and not _DIGITS.fullmatch(user):
        raise ValueError(f"not a WhatsApp JID: {jid!r}")
    return user, server


def normalize(jid: str) -> str:
    """The JID without device suffix or surrounding blanks."""
    user, server = split(jid)
    return f"{user}@{server}"


def is_valid(jid: str) -> bool:
    try:
        split(jid)
    except ValueError:
        return False
    return True


def server_of(jid: str) -> str:
    return split(jid)[1]


def is_phone(jid: str) -> bool:
    return is_valid(jid) and server_of(jid) == PHONE_SERVER


def is_lid(jid: str) -> bool:
    return is_valid(jid) and server_of(jid) == LID_SERVER


def is_group(jid: str) -> bool:
    return is_valid(jid) and server_of(jid) == GROUP_SERVER


def phone_jid(digits: str) -> str:
    """The phone JID for an already validated number (digits only, no ``+``)."""
    if not _DIGITS.fullmatch(digits):
        raise ValueError(f"phone digits expected, got {digits!r}")
    return f"{digits}@{PHONE_SERVER}"
