"""Looking people up on WhatsApp: registration, public profile, picture, and LID↔phone twins.

Each lookup is a ``call`` command to the runner holding the device (request/reply with a timeout),
validated before it is queued. Twin mappings WhatsApp discloses in an answer are recorded, so history
and unread counts follow the person whichever address they write from.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from whatsapp import jids as jidlib
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Contact, Device
from whatsapp.phones import normalize_phone
from whatsapp.services import ingest
from whatsapp.services.commands import device_call, live
from whatsapp.services.messages import resolve_recipient
from whatsapp.services.policies import ensure_allowed

MAX_ON_WHATSAPP = 50
MAX_USER_INFO = 20


def _validation(message: str, field: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, message, details={"field": field})


def _entries(values: list[str] | tuple[str, ...], maximum: int, field: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, list | tuple) or not values:
        raise _validation(f"Give at least one entry in {field}.", field)
    if len(values) > maximum:
        raise _validation(f"At most {maximum} entries in {field}.", field)
    return [value if isinstance(value, str) else "" for value in values]


def _phone_digits(entry: str) -> str:
    """A number as typed, or a phone JID, as validated digits."""
    text = entry.strip()
    if "@" in text:
        jid = resolve_recipient(text, "phones")
        if not jidlib.is_phone(jid):
            raise _validation(f"{text!r} is not a phone number or phone JID.", "phones")
        return jidlib.split(jid)[0]
    return normalize_phone(text, "phones")


def _person(entry: str, field: str) -> str:
    jid = resolve_recipient(entry, field)
    if jidlib.is_group(jid):
        raise _validation(f"{jid} is a group, not a person.", field)
    return jid


def _learn(device: Device, phone_jid: str, lid: str) -> None:
    if phone_jid and lid and jidlib.is_phone(phone_jid) and jidlib.is_lid(lid):
        ingest.link_identity(device, phone_jid, lid)


def is_on_whatsapp(device: Device, phones: list[str]) -> list[dict[str, Any]]:
    """Per number, in the order given: whether it is registered, its JID and verified name."""
    entries = _entries(phones, MAX_ON_WHATSAPP, "phones")
    digits = [_phone_digits(entry) for entry in entries]
    ensure_allowed(device, *(jidlib.phone_jid(number) for number in digits))
    live(device)
    answers = device_call(device, "is_on_whatsapp", phones=[f"+{d}" for d in digits]) or []
    by_digits = {"".join(ch for ch in str(a.get("query", "")) if ch.isascii() and ch.isdigit()): a for a in answers}
    results = []
    for entry, number in zip(entries, digits, strict=True):
        answer = by_digits.get(number) or {}
        results.append({"query": entry.strip(), "phone": f"+{number}",
                        "jid": answer.get("jid") or jidlib.phone_jid(number),
                        "is_on_whatsapp": bool(answer.get("is_on_whatsapp")),
                        "verified_name": answer.get("verified_name") or ""})
    return results


def user_info(device: Device, jids: list[str]) -> list[dict[str, Any]]:
    """The public profile (about text, verified business name, picture id) of each person WhatsApp
    knows; an empty list is a success. Phone↔LID twins in the answer are recorded."""
    targets = list(dict.fromkeys(_person(entry, "jids") for entry in _entries(jids, MAX_USER_INFO, "jids")))
    ensure_allowed(device, *targets)
    live(device)
    infos = device_call(device, "user_info", jids=targets) or []
    for info in infos:
        _learn(device, info.get("phone_jid") or "", info.get("lid") or "")
    return list(infos)


def profile_picture(device: Device, jid: str) -> dict[str, Any] | None:
    """The picture's URL and id, or None (a success) when none is set or privacy settings hide it."""
    target = resolve_recipient(jid, "jid")
    ensure_allowed(device, target)
    live(device)
    return device_call(device, "profile_picture", jid=target) or None


def lid_for_phone(device: Device, phone: str) -> str:
    """The LID twin of a phone number or phone JID, ``""`` when WhatsApp does not say. A twin the
    store already knows is answered without asking WhatsApp."""
    phone_jid = jidlib.phone_jid(_phone_digits(phone if isinstance(phone, str) else ""))
    ensure_allowed(device, phone_jid)
    known = Contact.objects.filter(device=device, phone_jid=phone_jid, lid__isnull=False).values_list(
        "lid", flat=True).first()
    if known:
        return known
    live(device)
    lid = str(device_call(device, "lid_for_phone", phone_jid=phone_jid) or "")
    _learn(device, phone_jid, lid)
    return lid if jidlib.is_lid(lid) else ""


def phone_for_lid(device: Device, lid: str) -> str:
    """The phone JID twin of a LID, ``""`` when WhatsApp does not say (known twins: no round trip)."""
    target = resolve_recipient(lid, "lid")
    if not jidlib.is_lid(target):
        raise _validation(f"{target} is not a LID (<digits>@lid).", "lid")
    ensure_allowed(device, target)
    known = Contact.objects.filter(device=device, lid=target, phone_jid__isnull=False).values_list(
        "phone_jid", flat=True).first()
    if known:
        return known
    live(device)
    phone_jid = str(device_call(device, "phone_for_lid", lid=target) or "")
    _learn(device, phone_jid, target)
    return phone_jid if jidlib.is_phone(phone_jid) else ""


# --- one person, as the REST API shows them ---------------------------------------------------


def person_jid(entry: str, field: str = "jid") -> str:
    """A person's JID (phone or LID) from a phone number or JID; a group or bad input is a
    ``VALIDATION_ERROR`` naming ``field``."""
    return _person(entry if isinstance(entry, str) else "", field)


def stored_contact(device: Device, *addresses: str) -> Contact | None:
    """The contact the store holds for any of ``addresses`` (phone JIDs or LIDs), without asking
    WhatsApp and without creating one."""
    phones = [a for a in addresses if a and jidlib.is_phone(a)]
    lids = [a for a in addresses if a and jidlib.is_lid(a)]
    if not phones and not lids:
        return None
    return Contact.objects.filter(device=device).filter(
        models.Q(phone_jid__in=phones) | models.Q(lid__in=lids)).order_by("pk").first()


def contact_details(device: Device, jid: str) -> dict[str, Any]:
    """One person's public profile (one ``user_info`` round trip) merged with what the store knows:
    both addresses when either side knows the twin, and the names people set or we stored. Fields
    WhatsApp hides (privacy) or never had are empty, never an error."""
    target = person_jid(jid)
    infos = user_info(device, [target])
    info = next((i for i in infos if target in (i.get("jid"), i.get("phone_jid"), i.get("lid"))), {})
    phone_jid = info.get("phone_jid") or (target if jidlib.is_phone(target) else "")
    lid = info.get("lid") or (target if jidlib.is_lid(target) else "")
    contact = stored_contact(device, target, phone_jid, lid)
    if contact is not None:
        phone_jid, lid = phone_jid or contact.phone_jid or "", lid or contact.lid or ""
    verified = info.get("verified_name") or ""
    names = (contact.custom_name, contact.full_name, contact.push_name, contact.business_name) if contact else ()
    name = next((n for n in names if n), "") or verified
    return {"jid": target, "phone_jid": phone_jid, "lid": lid, "name": name,
            "push_name": contact.push_name if contact is not None else "", "verified_name": verified,
            "status": info.get("status") or "", "picture_id": info.get("picture_id") or ""}


def picture_url(device: Device, jid: str) -> str:
    """The picture's URL, best effort: ``""`` when none is set, privacy hides it, or the lookup
    fails — a profile answer is not spoiled by its picture."""
    try:
        picture = profile_picture(device, jid)
    except WhatsAppError:
        return ""
    return (picture or {}).get("url") or ""


def identity(device: Device, jid: str) -> dict[str, str]:
    """Both addresses of a person: the LID of a phone JID or the phone JID of a LID (``""`` when
    WhatsApp does not say). Twins the store knows need no connection."""
    target = person_jid(jid)
    if jidlib.is_phone(target):
        return {"jid": target, "phone_jid": target, "lid": lid_for_phone(device, target)}
    return {"jid": target, "phone_jid": phone_for_lid(device, target), "lid": target}
