"""Groups and contacts on the simulated network (whatsapp-behaviour.md §2 and §8)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.db import transaction

from whatsapp import jids as jid_tools
from whatsapp.engine.base import GroupInfo, GroupParticipant, OnWhatsApp, ParticipantAction, ProfilePicture, UserInfo
from whatsapp.engine.simulator import world
from whatsapp.engine.simulator.db import retrying
from whatsapp.engine.simulator.models import WorldGroup
from whatsapp.errors import ErrorCode, WhatsAppError

MAX_GROUP_NAME = 25  # longer names: 406 not-acceptable (ReqCreateGroup comment)
MAX_PARTICIPANTS = 1024  # "group full": per-participant error 500
ADMIN_ROLES = ("admin", "superadmin")


def _iq_error(error: ErrorCode, status: int, text: str, message: str, **details: Any) -> WhatsAppError:
    return WhatsAppError(error, message, details={"iq_error": status, "text": text, **details})


def _not_found(group_jid: str) -> WhatsAppError:
    return _iq_error(ErrorCode.NOT_FOUND, 404, "item-not-found", f"group not found: {group_jid}", jid=group_jid,
                     whatsmeow="ErrGroupNotFound")


def _not_in_group(group_jid: str) -> WhatsAppError:
    return _iq_error(ErrorCode.FORBIDDEN, 403, "forbidden", "this account is not in the group", jid=group_jid,
                     whatsmeow="ErrNotInGroup")


class GroupsMixin:
    """The groups-and-contacts half of :class:`SimulatorEngine`."""

    # --- reading -----------------------------------------------------------------------------

    def _group_jid(self, group_jid: str) -> str:
        try:
            jid = jid_tools.normalize(group_jid)
        except ValueError:
            jid = ""
        if not jid_tools.is_group(jid):
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"not a group JID: {group_jid!r}",
                                details={"field": "group_jid"})
        return jid

    def _my_group(self, group_jid: str, *, admin: bool = False) -> WorldGroup:
        jid = self._group_jid(group_jid)
        found = world.group(jid)
        if found is None:
            raise _not_found(jid)
        role = found.role_of(self._me()[0])
        if not role:
            raise _not_in_group(jid)
        if admin and role not in ADMIN_ROLES:
            raise _iq_error(ErrorCode.FORBIDDEN, 403, "forbidden", "only group admins can do this", jid=jid)
        return found

    def _group_info(self, group: WorldGroup) -> GroupInfo:
        participants = []
        for entry in group.participants:
            phone, lid = world.twins(entry["jid"])
            self.reveal(phone, lid)
            role = entry.get("role", "member")
            participants.append(GroupParticipant(jid=entry["jid"], phone_jid=phone, lid=lid,
                                                 is_admin=role in ADMIN_ROLES, is_super_admin=role == "superadmin"))
        return GroupInfo(jid=group.jid, name=group.name, topic=group.topic, owner_jid=group.owner_jid,
                         created_at=group.created_at, is_announce=group.is_announce, is_locked=group.is_locked,
                         participants=tuple(participants))

    def group_info(self, group_jid: str) -> GroupInfo:
        self.require_online("group_info")
        return self._group_info(self._my_group(group_jid))

    def joined_groups(self) -> list[GroupInfo]:
        self.require_online("joined_groups")
        return [self._group_info(group) for group in world.groups_of(self._me()[0])]

    # --- changing ----------------------------------------------------------------------------

    def _change_group(self, group_jid: str, change: Callable[[WorldGroup], Any]) -> Any:
        """Apply ``change`` to the group row under a lock (two devices may edit one group)."""

        def work() -> Any:
            with transaction.atomic():
                group = WorldGroup.objects.select_for_update().get(jid=group_jid)
                result = change(group)
                group.save()
                return result

        return retrying(work)

    def create_group(self, name: str, participants: list[str]) -> GroupInfo:
        self.require_online("create_group")
        if not name.strip() or len(name) > MAX_GROUP_NAME:
            raise _iq_error(ErrorCode.VALIDATION_ERROR, 406, "not-acceptable",
                            f"group names are 1-{MAX_GROUP_NAME} characters", field="name")
        me = self._me()[0]
        created = world.add_group(name, [me], owner=me, source="engine")
        results = self._apply_participants(created.jid, participants, ParticipantAction.ADD)
        self._record("group", "", {"op": "create", "name": name, "participants": list(participants)},
                     chat_jid=created.jid)
        info = self._group_info(world.group(created.jid))
        failed = {p.jid: p.error for p in results if p.error}
        return replace(info, participants=info.participants + tuple(
            GroupParticipant(jid=jid, error=code) for jid, code in failed.items()))

    def group_invite_link(self, group_jid: str, reset: bool = False) -> str:
        self.require_online("group_invite_link")
        group = self._my_group(group_jid)
        if group.role_of(self._me()[0]) not in ADMIN_ROLES:
            raise _iq_error(ErrorCode.FORBIDDEN, 401, "not-authorized", "only admins can see the invite link",
                            jid=group.jid, whatsmeow="ErrGroupInviteLinkUnauthorized")

        def change(row: WorldGroup) -> str:
            if reset or not row.invite_code:
                if row.invite_code:
                    row.revoked_codes = [*row.revoked_codes, row.invite_code]
                row.invite_code = world.new_invite_code()
            return row.invite_code

        code = self._change_group(group.jid, change)
        if reset:
            self._record("group", "", {"op": "reset_invite_link"}, chat_jid=group.jid)
        return world.INVITE_PREFIX + code

    def join_group(self, invite_code: str) -> str:
        self.require_online("join_group")
        code = world.invite_code_of(invite_code)
        me = self._me()[0]
        groups = retrying(lambda: list(WorldGroup.objects.all()), atomic=False)
        target = next((g for g in groups if code and g.invite_code == code), None)
        if target is None:
            if any(code in g.revoked_codes for g in groups):
                raise _iq_error(ErrorCode.NOT_FOUND, 410, "gone", "that group invite link has been revoked",
                                whatsmeow="ErrInviteLinkRevoked")
            raise _iq_error(ErrorCode.VALIDATION_ERROR, 406, "not-acceptable", "that group invite link is not valid",
                            whatsmeow="ErrInviteLinkInvalid")

        def change(row: WorldGroup) -> None:
            if not row.role_of(me):
                row.participants = [*row.participants, {"jid": me, "role": "member"}]

        self._change_group(target.jid, change)
        self._record("group", "", {"op": "join", "invite_code": code}, chat_jid=target.jid)
        return target.jid

    def leave_group(self, group_jid: str) -> None:
        self.require_online("leave_group")
        group = self._my_group(group_jid)
        me = self._me()[0]

        def change(row: WorldGroup) -> None:
            row.participants = [p for p in row.participants if p["jid"] != me]

        self._change_group(group.jid, change)
        self._record("group", "", {"op": "leave"}, chat_jid=group.jid)

    def update_participants(self, group_jid: str, jids: list[str],
                            action: ParticipantAction) -> list[GroupParticipant]:
        self.require_online("update_participants")
        group = self._my_group(group_jid, admin=True)
        results = self._apply_participants(group.jid, jids, ParticipantAction(action))
        self._record("group", "", {"op": "participants", "action": ParticipantAction(action).value,
                                   "jids": list(jids), "errors": {p.jid: p.error for p in results if p.error}},
                     chat_jid=group.jid)
        return results

    def _apply_participants(self, group_jid: str, people: list[str],
                            action: ParticipantAction) -> list[GroupParticipant]:
        """The IQ succeeds even when some people fail: each result carries its own error code."""
        resolved = []
        for person in people:
            try:
                jid = world.parse_address(person)
            except ValueError:
                resolved.append((person, None, "", ""))
                continue
            phone, lid = world.twins(jid)
            resolved.append((jid, world.contact_for(jid), phone, lid))

        def change(row: WorldGroup) -> list[GroupParticipant]:
            out = []
            for jid, contact, phone, lid in resolved:
                key = phone or jid
                role = row.role_of(key)
                error = 0
                if action == ParticipantAction.ADD:
                    if contact is None or not contact.on_whatsapp:
                        error = 404  # not a WhatsApp user (assumed code; §8 lists none)
                    elif role:
                        error = 409
                    elif contact.add_privacy:
                        error = 403
                    elif len(row.participants) >= MAX_PARTICIPANTS:
                        error = 500
                    else:
                        row.participants = [*row.participants, {"jid": key, "role": "member"}]
                        role = "member"
                elif not role:
                    error = 404  # not a participant (assumed code)
                elif action == ParticipantAction.REMOVE:
                    row.participants = [p for p in row.participants if p["jid"] != key]
                    role = ""
                else:
                    role = "admin" if action == ParticipantAction.PROMOTE else "member"
                    if row.role_of(key) == "superadmin":
                        role = "superadmin" if action == ParticipantAction.PROMOTE else "member"
                    row.participants = [{**p, "role": role} if p["jid"] == key else p for p in row.participants]
                out.append(GroupParticipant(jid=jid, phone_jid=phone, lid=lid, is_admin=role in ADMIN_ROLES,
                                            is_super_admin=role == "superadmin", error=error))
            return out

        return self._change_group(group_jid, change)

    def _set_group_field(self, group_jid: str, field: str, value: str, operation: str) -> None:
        self.require_online(operation)
        group = self._my_group(group_jid)
        if group.is_locked and group.role_of(self._me()[0]) not in ADMIN_ROLES:
            raise _iq_error(ErrorCode.FORBIDDEN, 403, "forbidden", "only admins can edit this group's info",
                            jid=group.jid)
        self._change_group(group.jid, lambda row: setattr(row, field, value))
        self._record("group", "", {"op": operation, field: value}, chat_jid=group.jid)

    def set_group_name(self, group_jid: str, name: str) -> None:
        if not name.strip() or len(name) > MAX_GROUP_NAME:
            raise _iq_error(ErrorCode.VALIDATION_ERROR, 406, "not-acceptable",
                            f"group names are 1-{MAX_GROUP_NAME} characters", field="name")
        self._set_group_field(group_jid, "name", name, "set_group_name")

    def set_group_topic(self, group_jid: str, topic: str) -> None:
        self._set_group_field(group_jid, "topic", topic, "set_group_topic")

    # --- contacts ----------------------------------------------------------------------------

    def is_on_whatsapp(self, phones: list[str]) -> list[OnWhatsApp]:
        self.require_online("is_on_whatsapp")
        answers = []
        for query in phones:
            digits = world.phone_digits(query)
            if len(digits) < 7:
                answers.append(OnWhatsApp(query=query, jid="", is_on_whatsapp=False))
                continue
            phone = jid_tools.phone_jid(digits)
            contact = world.contact_for(phone)
            registered = contact is not None and contact.on_whatsapp
            if registered:
                self.reveal(contact.phone_jid, contact.lid)
            answers.append(OnWhatsApp(query=query, jid=phone, is_on_whatsapp=registered,
                                      verified_name=contact.verified_name if registered else ""))
        return answers

    def user_info(self, jids: list[str]) -> list[UserInfo]:
        """Like whatsmeow's GetUserInfo: an entry only for people WhatsApp knows."""
        self.require_online("user_info")
        infos = []
        for jid in jids:
            contact = world.contact_for(jid) if jid_tools.is_valid(jid) else None
            if contact is None or not contact.on_whatsapp:
                continue
            self.reveal(contact.phone_jid, contact.lid)
            infos.append(UserInfo(jid=jid_tools.normalize(jid), status=contact.about,
                                  verified_name=contact.verified_name, picture_id=contact.picture_id, lid=contact.lid,
                                  phone_jid=contact.phone_jid))
        return infos

    def profile_picture(self, jid: str) -> ProfilePicture | None:
        self.require_online("profile_picture")
        contact = world.contact_for(jid) if jid_tools.is_valid(jid) else None
        if contact is None or not contact.on_whatsapp or not contact.picture_id:
            return None
        url = f"https://pps.whatsapp.net/v/t61.24694-24/{contact.picture_id}_n.jpg?stp=dst-jpg_s96x96&oe=simulated"
        return ProfilePicture(jid=jid_tools.normalize(jid), url=url, picture_id=contact.picture_id)

    def lid_for_phone(self, phone_jid: str) -> str:
        """From the local mapping store: no round trip, so no connection needed."""
        return world.twins(phone_jid)[1] if jid_tools.is_phone(phone_jid) else ""

    def phone_for_lid(self, lid: str) -> str:
        return world.twins(lid)[0] if jid_tools.is_lid(lid) else ""
