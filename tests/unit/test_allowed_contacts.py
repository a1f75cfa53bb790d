"""The contact whitelist (``ALLOWED_CONTACTS``): exact matching with twin awareness, the device → app
→ environment precedence, and every service path that sends to, acts on or reads a contact."""

from __future__ import annotations

import pytest

from approvals.models import Approval
from approvals.replies import decide_from_message
from approvals.services import request_approval
from tests.factories import (
    connected_device,
    make_app,
    make_approval,
    make_chat,
    make_device,
    make_inbound,
    make_message,
)
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Device, Message
from whatsapp.services import actions, contacts, groups
from whatsapp.services.history import list_messages
from whatsapp.services.ingest import ingest_message, link_identity
from whatsapp.services.messages import Outgoing, send_message
from whatsapp.services.policies import Whitelist, whitelist_for
from whatsapp.services.presence import last_presence

ALICE = "15145550101@s.whatsapp.net"
ALICE_LID = "118207457280017@lid"
BOB = "15145550102@s.whatsapp.net"
FAMILY = "120363041234567890@g.us"
OTHER_GROUP = "120363052345678901@g.us"

pytestmark = pytest.mark.django_db


def refused(call, *args, **kwargs) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as caught:
        call(*args, **kwargs)
    assert caught.value.code is ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, caught.value
    return caught.value


def allowing(entries: str, *, connected: bool = True) -> Device:
    device = connected_device() if connected else make_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts=entries)
    device.refresh_from_db()
    return device


# --- matching ----------------------------------------------------------------------------------------


def test_empty_allows_everything() -> None:
    device = make_device()
    assert Whitelist.parse("").allows(device, ALICE)
    assert Whitelist.parse(None).allows_everything


def test_a_phone_entry_matches_equal_digits_only_never_a_suffix() -> None:
    device = make_device()
    whitelist = Whitelist.parse("+1 514 555 0101")
    assert whitelist.allows(device, ALICE)
    assert not Whitelist.parse("5145550101").allows(device, ALICE)  # the original's suffix match
    assert not whitelist.allows(device, "215145550101@s.whatsapp.net")
    assert not whitelist.allows(device, BOB)


def test_a_lid_passes_through_its_known_phone_twin() -> None:
    device = make_device()
    whitelist = Whitelist.parse("+15145550101")
    assert not whitelist.allows(device, ALICE_LID)  # twin unknown yet
    link_identity(device, ALICE, ALICE_LID)
    assert whitelist.allows(device, ALICE_LID)


def test_jids_listed_literally_pass_including_groups_and_lids() -> None:
    device = make_device()
    whitelist = Whitelist.parse(f"{FAMILY}, {ALICE_LID}")
    assert whitelist.allows(device, FAMILY)
    assert whitelist.allows(device, ALICE_LID)
    assert not whitelist.allows(device, OTHER_GROUP)
    assert not whitelist.allows(device, ALICE)


def test_device_overrides_app_which_overrides_the_environment(settings) -> None:
    settings.ALLOWED_CONTACTS = ["+15145550102"]
    env_device = make_device()
    app_device = make_device(make_app(allowed_contacts="15145550101"))
    own = make_device(make_app(allowed_contacts="15145550101"))
    Device.objects.filter(pk=own.pk).update(allowed_contacts=FAMILY)
    own.refresh_from_db()
    assert whitelist_for(env_device).allows(env_device, BOB)
    assert whitelist_for(app_device).allows(app_device, ALICE)
    assert not whitelist_for(app_device).allows(app_device, BOB)
    assert whitelist_for(own).allows(own, FAMILY)
    assert not whitelist_for(own).allows(own, ALICE)


def test_invalid_environment_entries_are_ignored_not_fatal(settings) -> None:
    settings.ALLOWED_CONTACTS = ["not-a-number", "+15145550101"]
    device = make_device()
    assert whitelist_for(device).allows(device, ALICE)
    assert not whitelist_for(device).allows(device, BOB)


# --- sends and actions ----------------------------------------------------------------------------------


def test_a_send_to_a_contact_not_allowed_is_refused_and_nothing_is_stored() -> None:
    device = allowing("+15145550101")
    error = refused(send_message, device, Outgoing(to="+15145550102", text="hi"), wait_s=0)
    assert error.details["jid"] == BOB
    assert not Message.objects.filter(device=device).exists()
    assert send_message(device, Outgoing(to="+15145550101", text="hi"), wait_s=0).status == "queued"


def test_an_approval_to_a_contact_not_allowed_is_never_requested() -> None:
    device = allowing("+15145550101")
    refused(request_approval, device, "+15145550102", "Deploy", wait_s=0)
    assert not Approval.objects.exists()


@pytest.mark.parametrize(("call", "args"), [(actions.react, ("👍",)), (actions.edit_message, ("fixed",)),
                                            (actions.revoke_message, ())])
def test_reacting_editing_or_revoking_in_a_chat_not_allowed_is_refused(call, args) -> None:
    device = allowing("+15145550101")
    message = make_message(device, make_chat(device, BOB), direction="out", from_me=True, status="sent", body="x")
    refused(call, device, message.wa_id, *args)


def test_marking_a_chat_not_allowed_read_is_refused() -> None:
    device = allowing("+15145550101")
    make_chat(device, BOB)
    refused(actions.mark_read, device, BOB)


# --- groups ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "args"), [
    (groups.group_info, ()), (groups.group_invite_link, ()), (groups.leave_group, ()),
    (groups.set_group_name, ("New name",)), (groups.set_group_topic, ("topic",)),
    (groups.update_participants, (["+15145550101"], "remove")),
])
def test_every_group_tool_needs_the_group_allowed(call, args) -> None:
    device = allowing("+15145550101", connected=False)
    refused(call, device, OTHER_GROUP, *args)
    with pytest.raises(WhatsAppError) as caught:  # an allowed group gets past the whitelist
        call(allowing(f"+15145550101,{FAMILY}", connected=False), FAMILY, *args)
    assert caught.value.code is ErrorCode.MESSAGE_NOT_CONNECTED


def test_people_added_or_promoted_must_be_allowed_but_anyone_may_be_removed() -> None:
    device = allowing(f"+15145550101,{FAMILY}", connected=False)
    refused(groups.create_group, device, "Team", ["+15145550101", "+15145550102"])
    refused(groups.update_participants, device, FAMILY, ["+15145550102"], "add")
    refused(groups.update_participants, device, FAMILY, ["+15145550102"], "promote")
    with pytest.raises(WhatsAppError) as caught:
        groups.update_participants(device, FAMILY, ["+15145550102"], "remove")
    assert caught.value.code is ErrorCode.MESSAGE_NOT_CONNECTED


# --- contact reads -------------------------------------------------------------------------------------


def test_contact_lookups_need_every_target_allowed() -> None:
    device = allowing("+15145550101", connected=False)
    refused(contacts.is_on_whatsapp, device, ["+15145550101", "+15145550102"])
    refused(contacts.user_info, device, [BOB])
    refused(contacts.profile_picture, device, BOB)
    refused(contacts.lid_for_phone, device, "+15145550102")
    refused(contacts.phone_for_lid, device, "999999999999@lid")
    refused(last_presence, device, BOB)
    link_identity(device, ALICE, ALICE_LID)
    assert contacts.lid_for_phone(device, "+15145550101") == ALICE_LID  # known twin: allowed, no round trip


# --- history and approval replies -----------------------------------------------------------------------


def test_history_drops_chats_not_allowed_before_paging() -> None:
    device = allowing("+15145550101")
    for _ in range(3):
        make_message(device, make_chat(device, BOB) if not device.chats.filter(jid=BOB).exists()
                     else device.chats.get(jid=BOB), body="hidden")
    alice = make_chat(device, ALICE)
    shown = [make_message(device, alice, body=f"shown {i}") for i in range(2)]
    page = list_messages(device, limit=2)
    assert {m.pk for m in page.messages} == {m.pk for m in shown}
    refused(list_messages, device, chat_jid=BOB)


def test_a_reply_from_a_chat_not_allowed_decides_nothing() -> None:
    device = allowing("+15145550101")
    approval = make_approval(device, BOB)  # requested before the whitelist changed
    stored = ingest_message(device, make_inbound(BOB, text="yes"))
    assert decide_from_message(device, stored) is None
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_the_rest_api_answers_403_with_the_shared_code() -> None:
    from tests.factories import make_app_with_token
    from tests.unit.api.conftest import ApiClient, assert_refused

    app, token = make_app_with_token(allowed_contacts="15145550101")
    device = connected_device(app)
    response = ApiClient(token).post(f"/devices/{device.pk}/messages", {"to": "+15145550102", "text": "hi"},
                                     headers={"Prefer": "respond-async"})
    error = assert_refused(response, 403, "permission_contact_not_whitelisted")
    assert error["details"]["jid"] == BOB
