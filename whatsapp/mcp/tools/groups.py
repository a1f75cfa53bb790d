"""The group tools (reference/mcp-tools.md §2.16 to §2.24): create, read, list, invite link, join,
leave, participants, name and topic.

Every one needs the live session. A ``group`` argument is resolved by §1.6 rule 4 (an ``@g.us`` JID,
else a local group chat's name, else an exact name among the live joined groups; ties are
``MESSAGE_AMBIGUOUS_RECIPIENT``, never "not found") and must pass the whitelist; so must the people
``create_group`` adds and those ``update_group_participants`` adds or promotes. The tools that take
an outbound token (create_group, join_group, update_group_participants) take it after every local
check, right before the round trip to WhatsApp, so a refused call costs nothing.

WhatsApp's own refusals come back as the enum's members: ``FORBIDDEN`` (not an admin, or not in the
group), ``NOT_FOUND`` (no such group, or a dead invite), the provider's limits and failures, and the
connection ones (``CONNECTION_TIMEOUT`` when the runner did not answer in time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from whatsapp import jids
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, choice, lines, strings, text, tool
from whatsapp.services import groups as group_services
from whatsapp.services.directory import Directory
from whatsapp.services.recipients import Resolved, person_or_jid, resolve

E = ErrorCode

#: What any round trip to WhatsApp through the device's runner may end with: WhatsApp's limits and
#: failures, the connection dropping meanwhile, or the runner not answering in time.
UPSTREAM = (E.PROVIDER_RATE_LIMITED, E.PROVIDER_ERROR, E.CONNECTION_LOST, E.CONNECTION_ABORTED,
            E.CONNECTION_TIMEOUT, E.WHATSAPP_ERROR)
#: ...and, for an operation on an existing group, its refusals: not an admin or not in the group
#: (``FORBIDDEN``), no such group (``NOT_FOUND``).
ON_GROUP = (E.FORBIDDEN, E.NOT_FOUND, *UPSTREAM)
RESOLUTION = (E.MESSAGE_RECIPIENT_NOT_FOUND, E.MESSAGE_AMBIGUOUS_RECIPIENT)
WHITELIST = (E.PERMISSION_CONTACT_NOT_WHITELISTED,)

GROUP = ("Group: its JID (<id>@g.us) or its name (local group chats first, then the groups this account is "
         "in, by exact name).")
PEOPLE = "Phone numbers in international format (+15551234567) or JIDs (<digits>@s.whatsapp.net, <digits>@lid)."
FIND_GROUP = "Find the group's JID with get_joined_groups or list_chats (groups_only=true)."
NOT_ADMIN = ("Only group admins can do this: ask an admin to make this account an admin (or to do it "
             "themselves).")


# --- shared steps ---------------------------------------------------------------------------------


def _live_groups(call: ToolCall) -> Callable[[], list[tuple[str, str]]]:
    """The joined groups as (JID, name), asked of WhatsApp only when no local group chat matches."""
    def fetch() -> list[tuple[str, str]]:
        return [(g["jid"], g.get("name") or "") for g in group_services.joined_groups(call.device)]

    return fetch


def _group(call: ToolCall) -> Resolved:
    """§1.4 step 4 for a ``group`` argument: resolve it, then the whitelist (naming the group)."""
    group = resolve(call.device, call["group"], field="group", groups_only=True, live_groups=_live_groups(call))
    call.audit["group_jid"] = group.jid
    call.ensure_allowed(group.jid)
    return group


def _people(values: list[str], field: str = "participants") -> list[str]:
    """Phone numbers or person JIDs as JIDs (no names, no groups), de-duplicated in order."""
    return list(dict.fromkeys(person_or_jid(value, field, people_only=True) for value in values))


def _group_name(value: str, field: str = "name") -> str:
    """The trimmed name. The schema allows the reference's 100 characters; WhatsApp refuses subjects
    over 25 (406 not-acceptable), so longer ones are refused here, before anything is spent."""
    name = value.strip()
    if not name:
        raise WhatsAppError(E.VALIDATION_ERROR, "The group name must contain text, not only whitespace.",
                            details={"field": field})
    if len(name) > group_services.MAX_GROUP_NAME:
        raise WhatsAppError(E.VALIDATION_ERROR,
                            f"WhatsApp accepts group names of at most {group_services.MAX_GROUP_NAME} characters "
                            f"({len(name)} given).", details={"field": field, "max": group_services.MAX_GROUP_NAME,
                                                              "length": len(name)})
    return name


@contextmanager
def _whatsapp(group_jid: str = "") -> Iterator[None]:
    """WhatsApp's refusals of a group operation, with advice an agent can act on."""
    try:
        yield
    except WhatsAppError as error:
        if error.code is E.NOT_FOUND and group_jid:
            raise WhatsAppError(E.NOT_FOUND, f"WhatsApp knows no group {group_jid} that this account is in "
                                f"({error.message}).", details={**error.details, "group_jid": group_jid},
                                recovery=FIND_GROUP) from error
        if error.code is E.FORBIDDEN and group_jid:
            raise WhatsAppError(E.FORBIDDEN, f"WhatsApp refused: this account is not an admin of the group, or "
                                f"not in it ({error.message}).", details={**error.details, "group_jid": group_jid},
                                recovery=NOT_ADMIN) from error
        raise


def _kind(jid: str) -> str:
    if jids.is_phone(jid):
        return "user"
    if jids.is_lid(jid):
        return "LID"
    return "unknown"


def _role(participant: dict[str, Any]) -> str:
    if participant.get("is_super_admin"):
        return "owner"
    return "admin" if participant.get("is_admin") else "member"


def _yes_no(value: Any, *, yes: str = "yes", no: str = "no") -> str:
    return "unknown" if value is None else (yes if value else no)


def _label(name: str, jid: str) -> str:
    return f"{name} ({jid})" if name and name != jid else jid


def _participants(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The participants as WhatsApp listed them; an entry missing data is "unknown", never a crash."""
    people = []
    for value in info.get("participants") or ():
        if not isinstance(value, dict):
            continue
        jid = str(value.get("jid") or value.get("phone_jid") or value.get("lid") or "")
        people.append({"jid": jid or "unknown", "phone_jid": value.get("phone_jid") or None,
                       "lid": value.get("lid") or None, "type": _kind(jid), "role": _role(value),
                       "is_admin": bool(value.get("is_admin") or value.get("is_super_admin"))})
    return people


def _own_addresses(call: ToolCall) -> set[str]:
    return {jid for jid in (call.device.phone_jid, call.device.lid) if jid}


# --- create ---------------------------------------------------------------------------------------


@tool("create_group", "Create a WhatsApp group with this account as its owner and add people to it.",
      text("name", "The group's name (subject). The schema allows 100 characters, but WhatsApp accepts at most "
           "25.", required=True, min_length=1, max_length=100),
      strings("participants", "People to add: " + PEOPLE, required=True, min_items=1, max_items=256),
      live=True, rate="outbound",
      response="Labelled lines: Group created (name), JID, Participants (members now in the group, of those "
               "requested), each refused person with WhatsApp's reason, and the Invite link when WhatsApp gave one.",
      errors=(*WHITELIST, E.MESSAGE_RATE_LIMITED, *UPSTREAM),
      examples=('create_group(name="Weekend trip", participants=["+15551234567", "+447700900123"])',
                'create_group(name="Ops", participants=["15551234567@s.whatsapp.net"])'),
      related=("get_group_info", "get_group_invite_link", "update_group_participants"),
      pitfalls=("WhatsApp refuses group names over 25 characters; they are refused before anything is sent.",
                "People whose privacy settings forbid being added are listed as refused; invite them with "
                "get_group_invite_link instead.",
                "With ALLOWED_CONTACTS set, every participant must be allowed, and the new group itself must be "
                "added to ALLOWED_CONTACTS (by JID) before the other group tools accept it."))
def create_group(call: ToolCall) -> ToolResult:
    name = _group_name(call["name"])
    people = _people(call["participants"])
    call.ensure_allowed(*people)
    call.take("outbound")
    with _whatsapp():
        info = group_services.create_group(call.device, name, people)
    call.audit["group_jid"] = info["jid"]
    outcomes = info.get("participants") or []
    members = [p for p in outcomes if p.get("ok")]
    refused = [{"jid": p.get("jid") or "unknown", "error": p.get("error") or None, "reason": p.get("reason") or ""}
               for p in outcomes if not p.get("ok")]
    invite = info.get("invite_link") or ""
    if invite and not invite.startswith(group_services.INVITE_PREFIX):
        invite = group_services.INVITE_PREFIX + invite.strip("/")
    shown = info.get("name") or name
    body = lines(("Group created", shown), ("JID", info["jid"]),
                 ("Participants", f"{len(members)} in the group ({len(people)} requested)" if outcomes
                  else f"unknown ({len(people)} requested; WhatsApp listed no participants)"))
    if refused:
        body += "\nRefused by WhatsApp:\n" + "\n".join(f"- {r['jid']}: {r['reason']}" for r in refused)
    if invite:
        body += "\n" + lines(("Invite link", invite))
    data = {"jid": info["jid"], "name": shown, "participant_count": len(members) if outcomes else None,
            "requested": people, "participants": _participants(info), "refused": refused,
            "invite_link": invite or None}
    return ToolResult(body, data)


# --- read -----------------------------------------------------------------------------------------


@tool("get_group_info", "Show a group's name, description, participants with their roles, admins, and who may "
      "edit the group info or send messages.",
      text("group", GROUP, required=True, max_length=200),
      live=True, read_only=True, idempotent=True,
      response="Labelled lines: Name (or none), JID, Description (if set), Participants (count, or unknown), one "
               "line per participant (JID, type user/LID, role owner/admin/member), Admins, Edit group info "
               "(admins only or all members), Send messages (admins only or all members).",
      errors=(*RESOLUTION, *WHITELIST, *ON_GROUP),
      examples=('get_group_info(group="120363041234567890@g.us")', 'get_group_info(group="Family")'),
      related=("get_joined_groups", "update_group_participants", "set_group_name", "set_group_topic"),
      pitfalls=("A name matching several groups equally is refused as ambiguous with the candidates; retry with "
                "the JID.",
                "When WhatsApp sends no participant data the count and roles are \"unknown\"."))
def get_group_info(call: ToolCall) -> ToolResult:
    group = _group(call)
    with _whatsapp(group.jid):
        info = group_services.group_info(call.device, group.jid)
    people = _participants(info)
    directory = Directory(call.device, only=[p["jid"] for p in people if p["jid"] != "unknown"])
    admins = [p for p in people if p["is_admin"]]
    name = info.get("name") or ""
    head = lines(("Name", name or "(no name)"), ("JID", group.jid), ("Description", info.get("topic") or ""),
                 ("Participants", len(people) if people else "unknown (WhatsApp sent no participant data)"))
    rows = [f"- {_label(directory.name(p['jid']), p['jid'])} | type: {p['type']} | role: {p['role']}"
            for p in people]
    tail = lines(
        ("Admins", ", ".join(f"{_label(directory.name(p['jid']), p['jid'])} ({p['role']})" for p in admins)
         or ("none" if people else "unknown")),
        ("Edit group info", _yes_no(info.get("is_locked"), yes="admins only", no="all members")),
        ("Send messages", _yes_no(info.get("is_announce"), yes="admins only (announce mode)", no="all members")))
    body = "\n".join([head, *rows, tail])
    for p in people:
        p["name"] = directory.name(p["jid"]) if p["jid"] != "unknown" else None
    data = {"jid": group.jid, "name": name or None, "description": info.get("topic") or None,
            "owner_jid": info.get("owner_jid") or None, "created_at": info.get("created_at"),
            "participant_count": len(people) if people else None, "participants": people,
            "admins": [{"jid": p["jid"], "role": p["role"]} for p in admins],
            "edit_info_admins_only": info.get("is_locked"), "send_admins_only": info.get("is_announce")}
    return ToolResult(body, data)


@tool("get_joined_groups", "List the WhatsApp groups this account is in, with member counts, whether we are "
      "admin, and each group's admins.",
      live=True, read_only=True, idempotent=True,
      response="Labelled lines: Groups (count); per group its name (or JID), JID, Members (or unknown), You are "
               "admin (yes/no/unknown) and Admins with their roles. An empty list is a success.",
      errors=UPSTREAM,
      examples=("get_joined_groups()",),
      related=("get_group_info", "list_chats", "leave_group"),
      pitfalls=("With ALLOWED_CONTACTS set, only groups listed there (by JID) appear.",))
def get_joined_groups(call: ToolCall) -> ToolResult:
    with _whatsapp():
        groups = group_services.joined_groups(call.device)
    own = _own_addresses(call)
    entries, blocks = [], []
    for number, info in enumerate(groups, 1):
        people = _participants(info)
        me = [p for p in people if own.intersection({p["jid"], p["phone_jid"], p["lid"]})]
        admin = (me[0]["is_admin"] if me else False) if people else None
        admins = [{"jid": p["jid"], "role": p["role"]} for p in people if p["is_admin"]]
        name = info.get("name") or ""
        entries.append({"jid": info["jid"], "name": name or None, "member_count": len(people) if people else None,
                        "is_admin": admin, "admins": admins})
        blocks.append(f"{number}. {name or info['jid']}\n" + "\n".join(
            "   " + line for line in lines(
                ("JID", info["jid"]), ("Members", len(people) if people else "unknown"),
                ("You are admin", _yes_no(admin)),
                ("Admins", ", ".join(f"{a['jid']} ({a['role']})" for a in admins) or
                 ("none" if people else "unknown"))).split("\n")))
    head = lines(("Groups", len(groups)))
    body = "\n".join([head, *blocks]) if groups else head + "\nThis account is in no (allowed) groups."
    return ToolResult(body, {"count": len(groups), "groups": entries})


# --- invite links ---------------------------------------------------------------------------------


@tool("get_group_invite_link", "Get a group's invite link (https://chat.whatsapp.com/<code>); only group admins "
      "can.",
      text("group", GROUP, required=True, max_length=200),
      live=True, idempotent=True,
      response="Labelled lines: Group (name), JID, Invite link (always the full https://chat.whatsapp.com/ URL).",
      errors=(*RESOLUTION, *WHITELIST, *ON_GROUP),
      examples=('get_group_invite_link(group="120363041234567890@g.us")', 'get_group_invite_link(group="Family")'),
      related=("join_group", "get_joined_groups", "list_chats"),
      pitfalls=("FORBIDDEN means this account is not an admin of the group.",
                "Anyone holding the link can join: share it carefully."))
def get_group_invite_link(call: ToolCall) -> ToolResult:
    group = _group(call)
    with _whatsapp(group.jid):
        result = group_services.group_invite_link(call.device, group.jid)
    name = result.get("name") or (group.name if group.name != group.jid else "")
    body = lines(("Group", name or "(no name)"), ("JID", group.jid), ("Invite link", result["link"]))
    return ToolResult(body, {"jid": group.jid, "name": name or None, "link": result["link"], "code": result["code"]})


@tool("join_group", "Join a WhatsApp group with an invite link (https://chat.whatsapp.com/<code>) or its bare code.",
      text("link", "An invite URL on chat.whatsapp.com, or the bare invite code.", required=True, max_length=300),
      live=True, rate="outbound",
      response="Labelled lines: Joined group (name when known), JID.",
      errors=(*WHITELIST, E.MESSAGE_RATE_LIMITED, E.NOT_FOUND, *UPSTREAM),
      examples=('join_group(link="https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv")',
                'join_group(link="AbCdEfGhIjKlMnOpQrStUv")'),
      related=("get_joined_groups", "leave_group", "get_group_info"),
      pitfalls=("Only links on chat.whatsapp.com are accepted.",
                "NOT_FOUND means the invite is invalid, expired or revoked: ask for a new link.",
                "With ALLOWED_CONTACTS set, joining by invite is refused: the group behind an invite cannot be "
                "looked up before joining on this gateway, so its JID cannot be checked first."))
def join_group(call: ToolCall) -> ToolResult:
    code = group_services.invite_code_of(call["link"])
    call.audit["invite_code"] = code
    if not call.whitelist.allows_everything:
        # §2.20 wants the invite looked up first and its group JID checked; the engine port offers no
        # invite lookup (only join), so a restricted device cannot verify the group: refuse, join nothing.
        raise WhatsAppError(
            E.PERMISSION_CONTACT_NOT_WHITELISTED,
            "ALLOWED_CONTACTS is set on this device, and the group behind an invite cannot be identified before "
            "joining here, so joining by invite is refused.",
            details={"invite_code": code, "reason": "invite_lookup_unavailable"},
            recovery="Join from the phone (then add the group's JID to ALLOWED_CONTACTS to use it here), or "
                     "clear ALLOWED_CONTACTS for this device.")
    call.take("outbound")
    try:
        result = group_services.join_group(call.device, code)
    except WhatsAppError as error:
        if error.code in (E.NOT_FOUND, E.VALIDATION_ERROR):  # WhatsApp's verdict on the code
            raise WhatsAppError(E.NOT_FOUND, f"The invite is invalid, expired or revoked ({error.message}).",
                                details={**error.details, "invite_code": code},
                                recovery="Ask a group admin for a new invite link.") from error
        raise
    call.audit["group_jid"] = result["jid"]
    body = lines(("Joined group", result.get("name") or "(name not known yet)"), ("JID", result["jid"]))
    return ToolResult(body, {"jid": result["jid"], "name": result.get("name") or None, "joined": True})


# --- membership -----------------------------------------------------------------------------------


@tool("leave_group", "Leave a WhatsApp group. Its chat and history stay in the local store.",
      text("group", GROUP, required=True, max_length=200),
      live=True, destructive=True,
      response="Labelled lines: Left group (name), JID.",
      errors=(*RESOLUTION, *WHITELIST, *ON_GROUP),
      examples=('leave_group(group="120363041234567890@g.us")',),
      related=("get_joined_groups", "join_group"),
      pitfalls=("Leaving cannot be undone from here: rejoining needs an invite link.",))
def leave_group(call: ToolCall) -> ToolResult:
    group = _group(call)
    with _whatsapp(group.jid):
        result = group_services.leave_group(call.device, group.jid)
    name = result.get("name") or (group.name if group.name != group.jid else "")
    body = lines(("Left group", name or "(no name)"), ("JID", group.jid))
    return ToolResult(body, {"jid": group.jid, "name": name or None, "left": True})


@tool("update_group_participants", "Add, remove, promote (to admin) or demote people in a group; this account "
      "must be a group admin.",
      text("group", GROUP, required=True, max_length=200),
      choice("action", "What to do with the participants.", ("add", "remove", "promote", "demote"), required=True),
      strings("participants", "The people: " + PEOPLE, required=True, min_items=1, max_items=50),
      live=True, destructive=True, rate="outbound",
      response="Labelled lines: Action, Group (name), JID, Participants (count, succeeded, failed), then one line "
               "per participant with its JID and outcome (ok, or WhatsApp's reason). If every participant failed "
               "the result is an error listing the reasons.",
      errors=(*RESOLUTION, *WHITELIST, E.MESSAGE_RATE_LIMITED, *ON_GROUP),
      examples=('update_group_participants(group="Family", action="add", participants=["+15551234567"])',
                'update_group_participants(group="120363041234567890@g.us", action="promote", '
                'participants=["15551234567@s.whatsapp.net"])'),
      related=("get_group_info", "create_group", "get_group_invite_link"),
      pitfalls=("With ALLOWED_CONTACTS set, people being added or promoted must be allowed; removing or demoting "
                "anyone is possible.",
                "A partial failure is a success listing the failures; only a change where every participant "
                "failed is an error (WHATSAPP_ERROR).",
                "FORBIDDEN means this account is not an admin of the group."))
def update_group_participants(call: ToolCall) -> ToolResult:
    group = _group(call)
    action = call["action"]
    people = _people(call["participants"])
    if action in ("add", "promote"):
        call.ensure_allowed(*people)  # whom we bring in or empower must pass; removing anyone may
    call.take("outbound")
    with _whatsapp(group.jid):
        result = group_services.update_participants(call.device, group.jid, people, action)
    outcomes = [{"jid": p.get("jid") or "unknown", "ok": bool(p.get("ok")), "error": p.get("error") or None,
                 "reason": p.get("reason") or ""} for p in result.get("participants") or ()]
    answered = {o["jid"] for o in outcomes}
    for p in result.get("participants") or ():
        answered |= {p.get("phone_jid"), p.get("lid")} - {None, ""}
    outcomes += [{"jid": jid, "ok": None, "error": None, "reason": "WhatsApp reported no outcome"}
                 for jid in people if jid not in answered]
    failed = [o for o in outcomes if o["ok"] is False]
    succeeded = [o for o in outcomes if o["ok"]]
    data = {"jid": group.jid, "name": group.name if group.name != group.jid else None, "action": action,
            "participant_count": len(people), "succeeded": len(succeeded), "failed": len(failed),
            "participants": outcomes}
    if failed and not succeeded and len(failed) == len(outcomes):
        reasons = "; ".join(f"{o['jid']}: {o['reason']}" for o in failed)
        raise WhatsAppError(E.WHATSAPP_ERROR, f"WhatsApp applied the {action} to no participant: {reasons}.",
                            details=data, recovery="Check each reason; for people whose privacy settings forbid "
                            "being added, share the invite link (get_group_invite_link) instead.")
    rows = [f"- {o['jid']}: " + ("ok" if o["ok"] else ("failed: " if o["ok"] is False else "") + o["reason"])
            for o in outcomes]
    body = "\n".join([lines(("Action", action), ("Group", data["name"] or "(no name)"), ("JID", group.jid),
                            ("Participants", f"{len(people)} ({len(succeeded)} ok, {len(failed)} failed)")), *rows])
    return ToolResult(body, data)


# --- name and topic -------------------------------------------------------------------------------


@tool("set_group_name", "Rename a group (its subject); admins only when the group info is locked.",
      text("group", GROUP, required=True, max_length=200),
      text("name", "The new name. The schema allows 100 characters, but WhatsApp accepts at most 25.", required=True,
           min_length=1, max_length=100),
      live=True, idempotent=True,
      response="Labelled lines: Group name set (the new name), JID.",
      errors=(*RESOLUTION, *WHITELIST, *ON_GROUP),
      examples=('set_group_name(group="120363041234567890@g.us", name="Family 2026")',),
      related=("set_group_topic", "get_group_info"),
      pitfalls=("WhatsApp refuses names over 25 characters; they are refused before anything is sent.",
                "FORBIDDEN means only admins may edit this group's info and this account is not one."))
def set_group_name(call: ToolCall) -> ToolResult:
    name = _group_name(call["name"])
    group = _group(call)
    with _whatsapp(group.jid):
        result = group_services.set_group_name(call.device, group.jid, name)
    body = lines(("Group name set", result["name"]), ("JID", group.jid))
    return ToolResult(body, {"jid": group.jid, "name": result["name"]})


@tool("set_group_topic", "Set or clear a group's description (topic); admins only when the group info is locked.",
      text("group", GROUP, required=True, max_length=200),
      text("topic", "The new description, up to 512 characters; \"\" clears it.", required=True, max_length=512),
      live=True, idempotent=True,
      response="Labelled lines: Description (updated or cleared), the new text, JID.",
      errors=(*RESOLUTION, *WHITELIST, *ON_GROUP),
      examples=('set_group_topic(group="Family", topic="Sunday dinners at 6")',
                'set_group_topic(group="120363041234567890@g.us", topic="")'),
      related=("set_group_name", "get_group_info"),
      pitfalls=("FORBIDDEN means only admins may edit this group's info and this account is not one.",))
def set_group_topic(call: ToolCall) -> ToolResult:
    group = _group(call)
    with _whatsapp(group.jid):
        result = group_services.set_group_topic(call.device, group.jid, call["topic"])
    body = lines(("Description", "cleared" if result["cleared"] else "updated"),
                 ("New description", result["topic"]), ("JID", group.jid))
    return ToolResult(body, {"jid": group.jid, "topic": result["topic"] or None, "cleared": result["cleared"],
                             "updated": not result["cleared"]})
