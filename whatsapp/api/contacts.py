"""Contact, profile and presence endpoints: the MCP contact tools as resources under
``/devices/{device_id}/contacts`` (is-on-WhatsApp check, user info, picture, LID↔phone identity),
and wa-server's ``GET /devices/{device_id}/profile?jid=`` and ``GET /devices/{device_id}/presence?jid=``.

A person is named by a phone number (international form) or a JID (``…@s.whatsapp.net`` or
``…@lid``); the profile also takes a group (``…@g.us``). Lookups are round trips to WhatsApp through
the device's runner, so the device must be connected; presence answers from the cache of presence
events and works while the device is offline.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from whatsapp import jids
from whatsapp.api.groups import LIVE_ERRORS, GroupDetail, group_detail
from whatsapp.api.lookups import device_of
from whatsapp.api.responses import responses
from whatsapp.api.schemas import Body, Data
from whatsapp.errors import ErrorCode as E
from whatsapp.services import contacts as contact_services
from whatsapp.services import groups as group_services
from whatsapp.services import presence as presence_services
from whatsapp.services.messages import resolve_recipient

router = Router(tags=["contacts"])


# --- shapes --------------------------------------------------------------------------------------


class CheckPhones(Body):
    phones: list[str] = Field(min_length=1, max_length=contact_services.MAX_ON_WHATSAPP,
                              description="Phone numbers in international form (`+…`), or phone JIDs.")


class PhoneCheck(Schema):
    query: str = Field(description="The entry as given.")
    phone: str = Field(description="The number in `+<digits>` form.")
    jid: str
    is_on_whatsapp: bool
    verified_name: str | None = Field(description="The verified business name, when there is one.")


class PhoneChecks(Schema):
    results: list[PhoneCheck]
    count: int


class ContactInfo(Schema):
    jid: str = Field(description="The address asked about (a phone number becomes its phone JID).")
    phone_jid: str | None = Field(description="Their phone JID, when known (asked or twin).")
    lid: str | None = Field(description="Their LID, when known (asked or twin).")
    name: str | None = Field(description="Best stored name (custom, address book, push, business), else the "
                                         "verified name.")
    push_name: str | None = Field(description="The name they set for themselves, when seen.")
    verified_name: str | None
    status: str | None = Field(description="Their about text; null when unset or hidden by privacy settings.")
    picture_id: str | None


class Picture(Schema):
    jid: str
    url: str | None = Field(description="Null when no picture is set or privacy settings hide it.")
    picture_id: str | None


class Identity(Schema):
    jid: str
    phone_jid: str | None = Field(description="Null when WhatsApp does not disclose it.")
    lid: str | None = Field(description="Null when WhatsApp does not disclose it.")


class ContactProfile(Schema):
    type: Literal["contact"]
    jid: str
    phone_jid: str | None
    lid: str | None
    name: str | None
    push_name: str | None
    verified_name: str | None
    status: str | None = Field(description="About text; null when unset or hidden by privacy settings.")
    picture_url: str | None = Field(description="Null when unset, hidden, or not retrievable now.")


class GroupProfile(GroupDetail):
    type: Literal["group"]
    picture_url: str | None = Field(description="Null when unset, hidden, or not retrievable now.")


class ProfileData(Schema):
    """``Data[…]`` of the profile union, under a readable schema name."""

    data: Annotated[ContactProfile | GroupProfile, Field(discriminator="type")]


class Presence(Schema):
    jid: str
    status: Literal["online", "offline", "unknown"] = Field(description="`unknown` until a presence update "
                                                                        "for the person was received.")
    last_seen: datetime | None = Field(description="When they were last online, if WhatsApp said.")
    updated_at: datetime | None = Field(description="When this presence was received; null when unknown.")


class JidQuery(Schema):
    jid: str = Field(min_length=1, max_length=200,
                     description="Phone number, `…@s.whatsapp.net`, `…@lid` (or `…@g.us` for profiles).")


def _nulls(values: dict) -> dict:
    """Empty strings are "not known": null in the API."""
    return {key: (None if value == "" else value) for key, value in values.items()}


# --- contacts ---------------------------------------------------------------------------------------


@router.post("/devices/{device_id}/contacts/check", response=responses({200: Data[PhoneChecks]}, *LIVE_ERRORS),
             summary="Which phone numbers are on WhatsApp")
def check_phones(request: HttpRequest, device_id: uuid.UUID, body: CheckPhones) -> dict:
    results = contact_services.is_on_whatsapp(device_of(request, device_id), body.phones)
    return {"data": {"results": [_nulls(r) for r in results], "count": len(results)}}


@router.get("/devices/{device_id}/contacts/{jid}", response=responses({200: Data[ContactInfo]}, *LIVE_ERRORS),
            summary="A person's public info (about, verified name, picture id) and both addresses")
def contact_info(request: HttpRequest, device_id: uuid.UUID, jid: str) -> dict:
    return {"data": _nulls(contact_services.contact_details(device_of(request, device_id), jid))}


@router.get("/devices/{device_id}/contacts/{jid}/picture", response=responses({200: Data[Picture]}, *LIVE_ERRORS),
            summary="A person's or group's profile picture (null URL when none or hidden)")
def contact_picture(request: HttpRequest, device_id: uuid.UUID, jid: str) -> dict:
    device = device_of(request, device_id)
    target = resolve_recipient(jid, "jid")
    picture = contact_services.profile_picture(device, target) or {}
    return {"data": {"jid": target, "url": picture.get("url") or None, "picture_id": picture.get("picture_id") or None}}


@router.get("/devices/{device_id}/contacts/{jid}/identity", response=responses({200: Data[Identity]}, *LIVE_ERRORS),
            summary="Both addresses of a person: the LID of a phone number, the phone JID of a LID")
def contact_identity(request: HttpRequest, device_id: uuid.UUID, jid: str) -> dict:
    """Twins the gateway already knows are answered from its store, even while disconnected."""
    return {"data": _nulls(contact_services.identity(device_of(request, device_id), jid))}


# --- wa-server: profile and presence ----------------------------------------------------------------


@router.get("/devices/{device_id}/profile", response=responses({200: ProfileData}, *LIVE_ERRORS),
            summary="A contact's or group's profile (wa-server); `type` says which")
def profile(request: HttpRequest, device_id: uuid.UUID, query: Query[JidQuery]) -> dict:
    """Best effort, as WhatsApp's privacy settings allow: hidden fields are null. The picture is
    looked up after the profile and never fails the answer."""
    device = device_of(request, device_id)
    target = resolve_recipient(query.jid, "jid")
    if jids.is_group(target):
        body = {"type": "group", **group_detail(group_services.group_info(device, target))}
    else:
        body = {"type": "contact", **_nulls(contact_services.contact_details(device, target))}
        body.pop("picture_id")
    body["picture_url"] = contact_services.picture_url(device, target) or None
    return {"data": body}


@router.get("/devices/{device_id}/presence",
            response=responses({200: Data[Presence]}, E.NOT_FOUND, E.DEVICE_DESTROYED),
            summary="A person's last-known presence (wa-server; a cache, may be stale)")
def presence(request: HttpRequest, device_id: uuid.UUID, query: Query[JidQuery]) -> dict:
    """Answered from the presence updates received so far, never by asking WhatsApp, so it works
    while the device is disconnected. While connected, the first query for a person also subscribes
    to their presence (without waiting), so ``unknown`` soon becomes ``online`` or ``offline``."""
    return {"data": presence_services.last_presence(device_of(request, device_id), query.jid)}
