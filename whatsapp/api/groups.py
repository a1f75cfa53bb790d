"""Group endpoints: wa-server's ``GET /devices/{device_id}/groups``, and the MCP group tools as
resources under it — create, read, invite link (and its reset), join, leave, participants, name
and description.

Every one needs WhatsApp: the device must be connected (``device_not_connected`` 409), and the
operation is a round trip through the device's runner (``upstream_timeout`` 504 when it does not
answer in time). A group JID in the path must be ``<id>@g.us``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from whatsapp.api.lookups import device_of
from whatsapp.api.responses import responses
from whatsapp.api.schemas import Body, Data
from whatsapp.errors import ErrorCode as E
from whatsapp.errors import WhatsAppError
from whatsapp.services import groups as group_services

router = Router(tags=["groups"])

# What a round trip to WhatsApp through the device's runner may end with: WhatsApp's refusals
# (not an admin or not in the group: forbidden; posting restricted), its limits and failures, and
# the runner not answering in time or losing the connection meanwhile.
UPSTREAM_ERRORS = (E.FORBIDDEN, E.GROUP_POSTING_RESTRICTED, E.MESSAGE_RECIPIENT_NOT_FOUND, E.REQUEST_CANCELED,
                   E.PROVIDER_RATE_LIMITED, E.PROVIDER_ERROR, E.WHATSAPP_ERROR, E.CONNECTION_LOST,
                   E.CONNECTION_ABORTED, E.CONNECTION_TIMEOUT)
# ...and before it: the device (unknown, destroyed, not connected).
LIVE_ERRORS = (E.NOT_FOUND, E.DEVICE_DESTROYED, E.MESSAGE_NOT_CONNECTED, *UPSTREAM_ERRORS)


# --- shapes --------------------------------------------------------------------------------------


class GroupSummary(Schema):
    """One joined group, exactly as wa-server lists it."""

    jid: str
    name: str | None = Field(description="The group's subject; null when it has none.")
    subject: str | None = Field(description="Same as `name` (wa-server carries both).")
    description: str | None = Field(description="The group's description (topic); null when none is set.")
    participant_count: int | None = Field(description="Null when WhatsApp did not list the participants.")
    is_announce: bool = Field(description="Only admins may send messages.")
    is_locked: bool = Field(description="Only admins may edit the group's info.")
    is_ephemeral: bool = Field(description="Disappearing messages are on.")
    is_join_approval_required: bool = Field(description="Admins approve people joining by link.")


class GroupList(Schema):
    groups: list[GroupSummary]
    count: int


class Participant(Schema):
    jid: str = Field(description="The address WhatsApp lists the participant under (phone JID or LID).")
    phone_jid: str | None = Field(description="Their phone JID, when known.")
    lid: str | None = Field(description="Their LID, when known.")
    is_admin: bool
    is_super_admin: bool = Field(description="The group's creator (owner).")


class ParticipantOutcome(Participant):
    ok: bool = Field(description="Whether WhatsApp applied the change to this participant.")
    error: int | None = Field(description="WhatsApp's per-participant error code (403, 404, 408, 409, 500).")
    reason: str | None = Field(description="The error explained; null when `ok`.")


class GroupDetail(GroupSummary):
    owner: str | None = Field(description="The creator's JID, when known.")
    created_at: datetime | None
    participants: list[Participant]


class CreatedGroup(GroupDetail):
    refused: list[ParticipantOutcome] = Field(
        description="People WhatsApp did not add, each with its reason (e.g. privacy settings: send them the "
                    "invite link instead).")


class InviteLink(Schema):
    jid: str
    name: str | None = Field(description="The group's name as stored; null when unknown.")
    link: str = Field(description="`https://chat.whatsapp.com/<code>`")
    code: str
    reset: bool = Field(description="Whether the previous link was revoked to make this one.")


class JoinedGroup(Schema):
    jid: str
    name: str | None = Field(description="Null when WhatsApp did not tell it.")
    code: str = Field(description="The invite code used.")


class LeftGroup(Schema):
    jid: str
    name: str | None
    left: bool


class ParticipantsChanged(Schema):
    jid: str
    action: str
    participants: list[ParticipantOutcome]
    succeeded: int
    failed: int


class GroupUpdated(Schema):
    jid: str
    name: str | None = Field(description="The new name; null when it was not changed.")
    description: str | None = Field(description="The new description (`\"\"`: cleared); null when not changed.")
    changed: list[str] = Field(description="What was changed, in order: `name`, `description`.")


class CreateGroup(Body):
    name: str = Field(max_length=200, description=f"1 to {group_services.MAX_GROUP_NAME} characters once trimmed.")
    participants: list[str] = Field(min_length=1, max_length=group_services.MAX_CREATE_PARTICIPANTS,
                                    description="Phone numbers (international form) or person JIDs.")


class JoinGroup(Body):
    link: str = Field(min_length=1, max_length=group_services.MAX_LINK_CHARS,
                      description="An invite link `https://chat.whatsapp.com/<code>` or the bare code.")


class ChangeParticipants(Body):
    action: Literal["add", "remove", "promote", "demote"]
    participants: list[str] = Field(min_length=1, max_length=group_services.MAX_UPDATE_PARTICIPANTS,
                                    description="Phone numbers or person JIDs.")


class UpdateGroup(Body):
    name: str | None = Field(None, max_length=200,
                             description=f"New name, 1 to {group_services.MAX_GROUP_NAME} characters once trimmed.")
    description: str | None = Field(None, max_length=group_services.MAX_GROUP_TOPIC,
                                    description="New description; `\"\"` clears it.")
    topic: str | None = Field(None, max_length=group_services.MAX_GROUP_TOPIC,
                              description="Alias of `description` (the MCP tool's word); give one of them.")


# --- rendering -------------------------------------------------------------------------------------


def _participant(value: dict[str, Any]) -> dict[str, Any]:
    return {"jid": value.get("jid") or "", "phone_jid": value.get("phone_jid") or None,
            "lid": value.get("lid") or None, "is_admin": bool(value.get("is_admin")),
            "is_super_admin": bool(value.get("is_super_admin"))}


def _outcome(value: dict[str, Any]) -> dict[str, Any]:
    error = int(value.get("error") or 0)
    return {**_participant(value), "ok": not error, "error": error or None, "reason": value.get("reason") or None}


def group_summary(info: dict[str, Any]) -> dict[str, Any]:
    """wa-server's group fields from the engine's ``GroupInfo``."""
    members = [p for p in info.get("participants") or () if not p.get("error")]
    return {"jid": info["jid"], "name": info.get("name") or None, "subject": info.get("name") or None,
            "description": info.get("topic") or None, "participant_count": len(members) or None,
            **{flag: bool(info.get(flag)) for flag in ("is_announce", "is_locked", "is_ephemeral",
                                                       "is_join_approval_required")}}


def group_detail(info: dict[str, Any]) -> dict[str, Any]:
    members = [p for p in info.get("participants") or () if not p.get("error")]
    return {**group_summary(info), "owner": info.get("owner_jid") or None, "created_at": info.get("created_at"),
            "participants": [_participant(p) for p in members]}


# --- endpoints ------------------------------------------------------------------------------------


@router.get("/devices/{device_id}/groups", response=responses({200: Data[GroupList]}, *LIVE_ERRORS),
            summary="The groups the device has joined (wa-server)")
def list_groups(request: HttpRequest, device_id: uuid.UUID) -> dict:
    groups = [group_summary(info) for info in group_services.joined_groups(device_of(request, device_id))]
    return {"data": {"groups": groups, "count": len(groups)}}


@router.post("/devices/{device_id}/groups", response=responses({201: Data[CreatedGroup]}, *LIVE_ERRORS),
             summary="Create a group, with this account as its owner")
def create_group(request: HttpRequest, device_id: uuid.UUID, body: CreateGroup) -> Status:
    info = group_services.create_group(device_of(request, device_id), body.name, body.participants)
    refused = [_outcome(p) for p in info.get("participants") or () if p.get("error")]
    return Status(201, {"data": {**group_detail(info), "refused": refused}})


# Declared before /groups/{group_jid}: the first route whose pattern matches a path answers it.
@router.post("/devices/{device_id}/groups/join", response=responses({200: Data[JoinedGroup]}, *LIVE_ERRORS),
             summary="Join a group by invite link or code")
def join_group(request: HttpRequest, device_id: uuid.UUID, body: JoinGroup) -> dict:
    joined = group_services.join_group(device_of(request, device_id), body.link)
    return {"data": {**joined, "name": joined.get("name") or None}}


@router.get("/devices/{device_id}/groups/{group_jid}", response=responses({200: Data[GroupDetail]}, *LIVE_ERRORS),
            summary="A group's info and participants")
def get_group(request: HttpRequest, device_id: uuid.UUID, group_jid: str) -> dict:
    return {"data": group_detail(group_services.group_info(device_of(request, device_id), group_jid))}


@router.patch("/devices/{device_id}/groups/{group_jid}", response=responses({200: Data[GroupUpdated]}, *LIVE_ERRORS),
              summary="Rename a group and/or set its description (admins, or anyone when not locked)")
def update_group(request: HttpRequest, device_id: uuid.UUID, group_jid: str, body: UpdateGroup) -> dict:
    """The name is changed first, then the description: when the second fails, the first stays done
    and the error's ``details.changed`` says so."""
    device = device_of(request, device_id)
    if body.description is not None and body.topic is not None:
        raise WhatsAppError(E.VALIDATION_ERROR, "Give description or topic, not both.", details={"field": "topic"})
    description = body.description if body.description is not None else body.topic
    if body.name is None and description is None:
        raise WhatsAppError(E.VALIDATION_ERROR, "Give a name and/or a description to change.",
                            details={"field": "name"})
    jid = group_services.group_jid_of(group_jid)
    result: dict[str, Any] = {"jid": jid, "name": None, "description": None, "changed": []}
    if body.name is not None:
        result["name"] = group_services.set_group_name(device, jid, body.name)["name"]
        result["changed"].append("name")
    if description is not None:
        try:
            result["description"] = group_services.set_group_topic(device, jid, description)["topic"]
        except WhatsAppError as error:
            error.details["changed"] = list(result["changed"])  # the name may already be changed
            raise
        result["changed"].append("description")
    return {"data": result}


@router.get("/devices/{device_id}/groups/{group_jid}/invite-link",
            response=responses({200: Data[InviteLink]}, *LIVE_ERRORS),
            summary="The group's invite link (admins only)")
def invite_link(request: HttpRequest, device_id: uuid.UUID, group_jid: str) -> dict:
    link = group_services.group_invite_link(device_of(request, device_id), group_jid)
    return {"data": {**link, "name": link.get("name") or None}}


@router.post("/devices/{device_id}/groups/{group_jid}/invite-link/reset",
             response=responses({200: Data[InviteLink]}, *LIVE_ERRORS),
             summary="Revoke the group's invite link and make a new one (admins only)")
def reset_invite_link(request: HttpRequest, device_id: uuid.UUID, group_jid: str) -> dict:
    link = group_services.group_invite_link(device_of(request, device_id), group_jid, reset=True)
    return {"data": {**link, "name": link.get("name") or None}}


@router.post("/devices/{device_id}/groups/{group_jid}/leave", response=responses({200: Data[LeftGroup]}, *LIVE_ERRORS),
             summary="Leave the group (its chat and history stay stored)")
def leave_group(request: HttpRequest, device_id: uuid.UUID, group_jid: str) -> dict:
    left = group_services.leave_group(device_of(request, device_id), group_jid)
    return {"data": {**left, "name": left.get("name") or None}}


@router.post("/devices/{device_id}/groups/{group_jid}/participants",
             response=responses({200: Data[ParticipantsChanged]}, *LIVE_ERRORS),
             summary="Add, remove, promote or demote participants (admins only)")
def change_participants(request: HttpRequest, device_id: uuid.UUID, group_jid: str, body: ChangeParticipants) -> dict:
    """WhatsApp applies the change to whom it can: a partial failure is a success listing each
    participant's outcome (``ok``, ``error``, ``reason``), as is a change nobody could receive."""
    result = group_services.update_participants(device_of(request, device_id), group_jid, body.participants,
                                                body.action)
    return {"data": {**result, "participants": [_outcome(p) for p in result["participants"]]}}
