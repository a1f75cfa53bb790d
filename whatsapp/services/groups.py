"""Group use cases: create, read, invite links, join, leave, participants, name and topic.

Inputs are validated here, before anything is queued; each operation is then one ``call`` command
to the runner holding the device (request/reply, ``CONNECTION_TIMEOUT`` when it does not answer)
whose arguments match the engine port's method by name. Results are plain JSON-ready dicts — the
port's ``GroupInfo`` and ``GroupParticipant`` fields — with each participant's outcome explained.

The local store follows where it costs nothing extra: a group we create or join gets its ``Chat``
row (with the group's name), and a name we learn or set updates the stored chat's name.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import urlsplit

from whatsapp import jids
from whatsapp.engine.base import ParticipantAction
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, Device
from whatsapp.services import ingest
from whatsapp.services.commands import device_call, live
from whatsapp.services.messages import resolve_recipient
from whatsapp.services.policies import ensure_allowed, whitelist_for

INVITE_PREFIX = "https://chat.whatsapp.com/"
INVITE_HOST = "chat.whatsapp.com"
MAX_GROUP_NAME = 25  # WhatsApp answers 406 not-acceptable beyond this (whatsapp-behaviour.md §8)
# whatsapp-behaviour.md §8 names no topic limit; this is the MCP reference's (§2.24).
MAX_GROUP_TOPIC = 512
MAX_CREATE_PARTICIPANTS = 256
MAX_UPDATE_PARTICIPANTS = 50
MAX_LINK_CHARS = 300
_INVITE_CODE = re.compile(r"^[0-9A-Za-z_-]+$", re.ASCII)

# WhatsApp's per-participant error codes on a participants change (whatsapp-behaviour.md §8).
PARTICIPANT_ERRORS = {
    403: "their privacy settings do not allow you to add them (invite them with the group's link instead)",
    404: "not on WhatsApp, or not a participant of the group",
    408: "they left the group recently and cannot be added again yet",
    409: "already in the group",
    500: "the group is full",
}


def _validation(message: str, field: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, message, details={"field": field})


# --- validation ------------------------------------------------------------------------------


def group_jid_of(value: str, field: str = "group_jid") -> str:
    """A well-formed group JID (``<id>@g.us``), or ``VALIDATION_ERROR``."""
    text = (value or "").strip() if isinstance(value, str) else ""
    try:
        jid = jids.normalize(text)
    except ValueError:
        jid = ""
    if not jids.is_group(jid):
        raise _validation(f"{text!r} is not a group JID (<id>@g.us).", field)
    return jid


def _allowed_group(device: Device, value: str) -> str:
    """A well-formed group JID that passes the device's whitelist (every group tool needs both)."""
    jid = group_jid_of(value)
    ensure_allowed(device, jid)
    return jid


def _participants(people: list[str] | tuple[str, ...], maximum: int) -> list[str]:
    """Phone numbers or person JIDs as JIDs, de-duplicated in order."""
    if isinstance(people, str) or not isinstance(people, list | tuple) or not people:
        raise _validation("Give at least one participant (a phone number or a JID).", "participants")
    if len(people) > maximum:
        raise _validation(f"At most {maximum} participants at a time.", "participants")
    resolved = []
    for person in people:
        jid = resolve_recipient(person if isinstance(person, str) else "", "participants")
        if jids.is_group(jid):
            raise _validation(f"{jid} is a group, not a person.", "participants")
        resolved.append(jid)
    return list(dict.fromkeys(resolved))


def _group_name(name: str) -> str:
    text = (name or "").strip() if isinstance(name, str) else ""
    if not text:
        raise _validation("A group name is required.", "name")
    if len(text) > MAX_GROUP_NAME:
        raise _validation(f"Group names have at most {MAX_GROUP_NAME} characters ({len(text)} given).", "name")
    return text


def invite_code_of(link_or_code: str) -> str:
    """The code of a ``https://chat.whatsapp.com/<code>`` link, or the bare code itself."""
    text = (link_or_code or "").strip() if isinstance(link_or_code, str) else ""
    if not text:
        raise _validation("An invite link or code is required.", "link")
    if len(text) > MAX_LINK_CHARS:
        raise _validation(f"An invite link has at most {MAX_LINK_CHARS} characters.", "link")
    if "/" in text or "." in text:
        try:
            parts = urlsplit(text if "://" in text else f"https://{text}")
        except ValueError:  # e.g. an unbalanced "[" reads as a broken IPv6 host
            raise _validation(f"Invite links are {INVITE_PREFIX}<code>; {text!r} is not one.", "link") from None
        if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() != INVITE_HOST:
            raise _validation(f"Invite links are {INVITE_PREFIX}<code>; {text!r} is not one.", "link")
        text = parts.path.strip("/")
    if not _INVITE_CODE.match(text):
        raise _validation(f"{text!r} is not a WhatsApp invite code.", "link")
    return text


# --- results ---------------------------------------------------------------------------------


def _participant(value: dict[str, Any]) -> dict[str, Any]:
    error = int(value.get("error") or 0)
    reason = "" if not error else PARTICIPANT_ERRORS.get(error, f"WhatsApp refused it (error {error})")
    return {**value, "ok": not error, "reason": reason}


def _group(value: dict[str, Any]) -> dict[str, Any]:
    """A ``GroupInfo`` dict with every participant's outcome spelled out (missing data: none)."""
    return {**value, "participants": [_participant(p) for p in value.get("participants") or ()]}


def _remember(device: Device, jid: str, name: str, *, create: bool) -> None:
    """Keep the group's chat row (and its name) in step with what WhatsApp just told us."""
    chat = ingest.chat_for(device, jid, name=name) if create else Chat.objects.filter(device=device, jid=jid).first()
    if chat is not None and name and chat.name != name:
        Chat.objects.filter(pk=chat.pk).update(name=name)


def _stored_name(device: Device, jid: str) -> str:
    return Chat.objects.filter(device=device, jid=jid).values_list("name", flat=True).first() or ""


# --- use cases -------------------------------------------------------------------------------


def create_group(device: Device, name: str, participants: list[str]) -> dict[str, Any]:
    """Create a group with us as its owner. People WhatsApp refused are listed with their reason."""
    name = _group_name(name)
    people = _participants(participants, MAX_CREATE_PARTICIPANTS)
    ensure_allowed(device, *people)
    live(device)
    info = _group(device_call(device, "create_group", name=name, participants=people))
    _remember(device, info["jid"], info.get("name") or name, create=True)
    return info


def group_info(device: Device, group_jid: str) -> dict[str, Any]:
    jid = _allowed_group(device, group_jid)
    live(device)
    info = _group(device_call(device, "group_info", group_jid=jid))
    _remember(device, jid, info.get("name") or "", create=False)
    return info


def joined_groups(device: Device) -> list[dict[str, Any]]:
    live(device)
    whitelist = whitelist_for(device)
    groups = [_group(value) for value in device_call(device, "joined_groups") or ()]
    groups = [info for info in groups if whitelist.allows(device, info["jid"])]
    for info in groups:
        _remember(device, info["jid"], info.get("name") or "", create=False)
    return groups


def group_invite_link(device: Device, group_jid: str, reset: bool = False) -> dict[str, Any]:
    """The group's invite link (admins only); ``reset`` revokes the old one and makes a new one."""
    jid = _allowed_group(device, group_jid)
    live(device)
    value = str(device_call(device, "group_invite_link", group_jid=jid, reset=bool(reset)) or "")
    link = value if value.startswith(INVITE_PREFIX) else INVITE_PREFIX + value.strip("/")
    return {"jid": jid, "name": _stored_name(device, jid), "link": link, "code": link[len(INVITE_PREFIX):],
            "reset": bool(reset)}


def join_group(device: Device, link_or_code: str) -> dict[str, Any]:
    """Join by invite link or bare code. The group's name is looked up afterwards, best effort."""
    code = invite_code_of(link_or_code)
    live(device)
    jid = group_jid_of(str(device_call(device, "join_group", invite_code=code) or ""), "jid")
    name = ""
    with contextlib.suppress(WhatsAppError):  # joined all the same; the name comes with a later lookup
        name = group_info(device, jid).get("name") or ""
    _remember(device, jid, name, create=True)
    return {"jid": jid, "name": name, "code": code}


def leave_group(device: Device, group_jid: str) -> dict[str, Any]:
    """Leave the group; its chat and history stay in the store."""
    jid = _allowed_group(device, group_jid)
    live(device)
    device_call(device, "leave_group", group_jid=jid)
    return {"jid": jid, "name": _stored_name(device, jid), "left": True}


def update_participants(device: Device, group_jid: str, participants: list[str], action: str) -> dict[str, Any]:
    """Add, remove, promote or demote people (admins only). WhatsApp accepts the change even when
    some people fail; each participant's outcome is in the result."""
    jid = _allowed_group(device, group_jid)
    try:
        change = ParticipantAction(str(action).strip().lower() if isinstance(action, str) else action)
    except ValueError:
        raise _validation(f"action must be one of {', '.join(a.value for a in ParticipantAction)}.",
                          "action") from None
    people = _participants(participants, MAX_UPDATE_PARTICIPANTS)
    if change in (ParticipantAction.ADD, ParticipantAction.PROMOTE):
        ensure_allowed(device, *people)  # whom we bring in or empower must pass; removing anyone may
    live(device)
    results = [_participant(p) for p in device_call(device, "update_participants", group_jid=jid, jids=people,
                                                     action=change.value) or ()]
    failed = sum(1 for p in results if not p["ok"])
    return {"jid": jid, "action": change.value, "participants": results, "succeeded": len(results) - failed,
            "failed": failed}


def set_group_name(device: Device, group_jid: str, name: str) -> dict[str, Any]:
    jid = _allowed_group(device, group_jid)
    name = _group_name(name)
    live(device)
    device_call(device, "set_group_name", group_jid=jid, name=name)
    _remember(device, jid, name, create=False)
    return {"jid": jid, "name": name}


def set_group_topic(device: Device, group_jid: str, topic: str) -> dict[str, Any]:
    """Set the group's description; ``""`` clears it."""
    jid = _allowed_group(device, group_jid)
    if not isinstance(topic, str):
        raise _validation("The topic must be text (\"\" clears it).", "topic")
    topic = topic.strip()
    if len(topic) > MAX_GROUP_TOPIC:
        raise _validation(f"Group topics have at most {MAX_GROUP_TOPIC} characters ({len(topic)} given).", "topic")
    live(device)
    device_call(device, "set_group_topic", group_jid=jid, topic=topic)
    return {"jid": jid, "topic": topic, "cleared": not topic}
