"""send_reaction, edit_message and delete_message over MCP (reference/mcp-tools.md §2.25 to §2.27): the chat
resolved by §1.6 and whitelisted, the stored message as the authority (``NOT_FOUND`` when it is not stored,
``CHAT_MISMATCH`` when it is in another chat that is no twin), the outbound token taken only after every
local check, and the local copy updated once WhatsApp accepted the action."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditLog
from tests.factories import ScriptedRunner as Runner
from tests.factories import connected_device, make_chat, make_contact, make_device, make_message
from tests.support.mcp import Outcome, call, ok, refused
from whatsapp.errors import ErrorCode
from whatsapp.mcp.tooling import REGISTRY
from whatsapp.mcp.tools import actions as action_tools
from whatsapp.mcp.tools.info import COMMON
from whatsapp.models import (
    Chat,
    CommandKind,
    DeliveryStatus,
    Device,
    DeviceCommand,
    Direction,
    Message,
    MessageType,
    Reaction,
    ThrottleHit,
)

E = ErrorCode
PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OTHER = "15559990000@s.whatsapp.net"
OWN = "15550001111@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
MEMBER = "15145550102@s.whatsapp.net"
TOOLS = ("send_reaction", "edit_message", "delete_message")
WHEN = timezone.now().replace(microsecond=0) - timedelta(seconds=5)


@pytest.fixture(autouse=True)
def defaults(settings):
    settings.RATE_LIMIT_PER_MIN = 60
    settings.ALLOWED_CONTACTS = []
    settings.DISABLED_TOOLS = []




def accept(command: DeviceCommand) -> None:
    """WhatsApp accepted the reaction, edit or revoke: its id and time of the action."""
    command.succeed({"wa_id": command.payload["wa_id"], "timestamp": WHEN.isoformat()})


def failing(code: ErrorCode, message: str = "", **details) -> Callable[[DeviceCommand], None]:
    return lambda command: command.fail(code, message or None, details or None)


def chat_of(device: Device, jid: str = PHONE, **fields) -> Chat:
    return Chat.objects.filter(device=device, jid=jid).first() or make_chat(device, jid, **fields)


def inbound(device: Device, wa_id: str = "IN1", chat: Chat | None = None, **fields) -> Message:
    chat = chat or chat_of(device)
    fields.setdefault("sender_jid", chat.jid if chat.kind == "direct" else MEMBER)
    return make_message(device, chat, wa_id, direction=Direction.INBOUND, body="hello", **fields)


def own(device: Device, wa_id: str = "OUT1", chat: Chat | None = None, **fields) -> Message:
    fields.setdefault("status", DeliveryStatus.SENT)
    return make_message(device, chat or chat_of(device), wa_id, direction=Direction.OUTBOUND, from_me=True,
                        sender_jid=OWN, body="first draft", **fields)


def tokens(device: Device) -> int:
    return ThrottleHit.objects.filter(key=f"outbound:{device.pk}").count()


def nothing_happened(device: Device) -> None:
    assert not DeviceCommand.objects.filter(device=device).exists(), "a refused call queues nothing"
    assert tokens(device) == 0, "a refused call takes no rate token"


def allow_only(device: Device, *entries: str) -> None:
    device.allowed_contacts = ",".join(entries)
    device.save(update_fields=["allowed_contacts"])


def args(tool: str, **overrides) -> dict:
    base = {"chat": PHONE, "message_id": "OUT1"}
    extra = {"send_reaction": {"emoji": "👍"}, "edit_message": {"new_text": "second draft"}}.get(tool, {})
    return {**base, **extra, **overrides}


# --- registration --------------------------------------------------------------------------------


def test_the_actions_are_live_outbound_and_annotated() -> None:
    specs = {name: REGISTRY[name] for name in TOOLS}
    assert all(s.live and s.rate == "outbound" and not s.read_only for s in specs.values())
    assert {n for n, s in specs.items() if s.destructive} == {"delete_message"}
    assert specs["edit_message"].input_schema()["properties"]["new_text"]["maxLength"] == 4096
    assert specs["edit_message"].input_schema()["properties"]["new_text"]["minLength"] == 1
    assert all(s.input_schema()["required"][:2] == ["chat", "message_id"] for s in specs.values())


# --- send_reaction -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_reaction_is_sent_to_the_stored_message_and_stored() -> None:
    device = connected_device(phone_jid=OWN)
    chat_of(device, name="Alice")
    inbound(device)
    with Runner(device.pk, [accept]) as runner:
        outcome = ok(device, "send_reaction", chat="Alice", message_id="IN1", emoji="👍")
    command = runner.handled[0]
    assert command.kind == CommandKind.REACT
    assert {k: command.payload[k] for k in ("chat_jid", "target_wa_id", "target_sender_jid", "emoji")} == {
        "chat_jid": PHONE, "target_wa_id": "IN1", "target_sender_jid": PHONE, "emoji": "👍"}
    assert "Reaction: 👍 set" in outcome.text
    assert "Message ID: IN1" in outcome.text
    assert f"Chat: Alice ({PHONE})" in outcome.text
    assert f"Chat JID: {PHONE}" in outcome.text
    assert (outcome.data["message_id"], outcome.data["chat_jid"], outcome.data["emoji"], outcome.data["removed"]) == (
        "IN1", PHONE, "👍", False)
    assert Reaction.objects.get(message__wa_id="IN1").emoji == "👍"
    assert tokens(device) == 1
    assert AuditLog.objects.get(action="send_reaction").details["arguments"]["chat_jid"] == PHONE


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("emoji", ["👨‍👩‍👧‍👦", "🇧🇷", "👍🏽", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣", "❤️"])
def test_one_emoji_of_many_code_units_is_one_emoji(emoji: str) -> None:
    device = connected_device(phone_jid=OWN)
    inbound(device)
    with Runner(device.pk, [accept]) as runner:
        outcome = ok(device, "send_reaction", chat=PHONE, message_id="IN1", emoji=emoji)
    assert runner.handled[0].payload["emoji"] == emoji
    assert outcome.data["emoji"] == emoji


@pytest.mark.django_db(transaction=True)
def test_an_empty_emoji_removes_the_reaction() -> None:
    device = connected_device(phone_jid=OWN)
    message = inbound(device)
    Reaction.objects.create(message=message, sender_jid=OWN, emoji="👍")
    with Runner(device.pk, [accept]) as runner:
        outcome = ok(device, "send_reaction", chat=PHONE, message_id="IN1", emoji="")
    assert runner.handled[0].payload["emoji"] == ""
    assert "Reaction: removed" in outcome.text
    assert outcome.data["removed"] is True
    assert outcome.data["emoji"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("emoji", ["ok", "👍👍", " ", "👍 ok", "a"])
def test_anything_but_one_emoji_is_refused(emoji: str) -> None:
    device = connected_device()
    inbound(device)
    outcome = refused(device, "send_reaction", E.VALIDATION_ERROR, chat=PHONE, message_id="IN1", emoji=emoji)
    assert outcome.details["field"] == "emoji"
    nothing_happened(device)


@pytest.mark.django_db(transaction=True)
def test_a_group_message_is_addressed_to_its_real_sender() -> None:
    device = connected_device(phone_jid=OWN)
    group = make_chat(device, GROUP, name="Family")
    inbound(device, "G1", chat=group)
    with Runner(device.pk, [accept]) as runner:
        ok(device, "send_reaction", chat="Family", message_id="G1", emoji="🎉")
    assert runner.handled[0].payload["target_sender_jid"] == MEMBER


# --- the stored message is the authority ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("tool", TOOLS)
def test_a_message_not_in_the_store_is_not_found_and_no_sender_is_guessed(tool: str) -> None:
    device = connected_device()
    chat_of(device)
    outcome = refused(device, tool, E.NOT_FOUND, **args(tool, message_id="NOPE"))
    assert outcome.details["message_id"] == "NOPE"
    assert "list_messages" in outcome.text
    nothing_happened(device)


@pytest.mark.django_db
@pytest.mark.parametrize("tool", TOOLS)
def test_a_message_of_another_chat_is_a_chat_mismatch(tool: str) -> None:
    device = connected_device()
    own(device)
    make_chat(device, OTHER, name="Bob")
    outcome = refused(device, tool, E.CHAT_MISMATCH, **args(tool, chat="Bob"))
    assert (outcome.details["chat_jid"], outcome.details["message_chat_jid"]) == (OTHER, PHONE)
    nothing_happened(device)


@pytest.mark.django_db
def test_a_chat_mismatch_does_not_reveal_a_chat_the_whitelist_hides() -> None:
    device = connected_device()
    own(device)
    allow_only(device, "+15559990000")
    outcome = refused(device, "delete_message", E.CHAT_MISMATCH, chat=OTHER, message_id="OUT1")
    assert "message_chat_jid" not in outcome.details
    assert PHONE not in outcome.text
    nothing_happened(device)


@pytest.mark.django_db(transaction=True)
def test_a_twin_chat_is_the_same_chat() -> None:
    device = connected_device(phone_jid=OWN)
    contact = make_contact(device, phone_jid=PHONE, lid=LID)
    lid_chat = make_chat(device, LID, contact=contact, name="Alice")
    own(device, chat=lid_chat)
    with Runner(device.pk, [accept]) as runner:
        outcome = ok(device, "delete_message", chat="+1 555 123 4567", message_id="OUT1")
    assert runner.handled[0].payload["chat_jid"] == LID  # the stored chat, not the one typed
    assert f"Chat JID: {LID}" in outcome.text


@pytest.mark.django_db
@pytest.mark.parametrize("tool", TOOLS)
def test_the_whitelist_applies_to_the_chat(tool: str) -> None:
    device = connected_device()
    own(device)
    allow_only(device, "+15559990000")
    outcome = refused(device, tool, E.PERMISSION_CONTACT_NOT_WHITELISTED, **args(tool))
    assert outcome.details["jid"] == PHONE
    nothing_happened(device)


@pytest.mark.django_db(transaction=True)
def test_a_lid_chat_passes_through_its_allowed_phone_twin() -> None:
    device = connected_device(phone_jid=OWN)
    contact = make_contact(device, phone_jid=PHONE, lid=LID)
    own(device, chat=make_chat(device, LID, contact=contact))
    allow_only(device, "+15551234567")
    with Runner(device.pk, [accept]):
        ok(device, "edit_message", chat=LID, message_id="OUT1", new_text="fixed")


@pytest.mark.django_db
@pytest.mark.parametrize(("chat", "code"), [("Sarah", E.MESSAGE_AMBIGUOUS_RECIPIENT),
                                            ("Zebediah", E.MESSAGE_RECIPIENT_NOT_FOUND),
                                            ("15551234567@c.us", E.VALIDATION_ERROR), ("  ", E.VALIDATION_ERROR)])
def test_the_chat_is_resolved_by_the_one_resolver(chat: str, code: ErrorCode) -> None:
    device = connected_device()
    make_chat(device, PHONE, name="Sarah Connor")
    make_chat(device, OTHER, name="Sarah McLachlan")
    own(device)
    refused(device, "send_reaction", code, chat=chat, message_id="OUT1", emoji="👍")
    nothing_happened(device)


# --- edit_message --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_edit_replaces_the_local_text_and_marks_it_edited() -> None:
    device = connected_device(phone_jid=OWN)
    chat_of(device, name="Alice")
    own(device)
    with Runner(device.pk, [accept]) as runner:
        outcome = ok(device, "edit_message", chat="Alice", message_id="OUT1", new_text="second draft")
    command = runner.handled[0]
    assert command.kind == CommandKind.EDIT
    assert (command.payload["chat_jid"], command.payload["target_wa_id"], command.payload["text"]) == (
        PHONE, "OUT1", "second draft")
    assert "Message edited: yes" in outcome.text
    assert "Message ID: OUT1" in outcome.text
    assert f"Chat JID: {PHONE}" in outcome.text
    assert (outcome.data["message_id"], outcome.data["chat_jid"], outcome.data["edited"]) == ("OUT1", PHONE, True)
    message = Message.objects.get(wa_id="OUT1")
    assert message.body == "second draft"
    assert message.edited_at is not None
    assert tokens(device) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("make", "needle"), [
    (lambda d: inbound(d, "OUT1"), "Only messages sent by this account"),
    (lambda d: own(d, status=DeliveryStatus.QUEUED), "queued"),
    (lambda d: own(d, status=DeliveryStatus.FAILED), "failed"),
    (lambda d: own(d, revoked_at=timezone.now()), "deleted for everyone"),
    (lambda d: own(d, type=MessageType.IMAGE), "Only text messages"),
])
def test_only_own_sent_text_messages_can_be_edited(make, needle: str) -> None:
    device = connected_device()
    make(device)
    outcome = refused(device, "edit_message", E.VALIDATION_ERROR, chat=PHONE, message_id="OUT1", new_text="x")
    assert needle in outcome.text
    nothing_happened(device)


@pytest.mark.django_db
@pytest.mark.parametrize("new_text", ["", "   ", "x" * 4097])
def test_the_new_text_is_validated_first(new_text: str) -> None:
    device = connected_device()
    own(device)
    outcome = refused(device, "edit_message", E.VALIDATION_ERROR, chat=PHONE, message_id="OUT1", new_text=new_text)
    assert outcome.details["field"] == "new_text"
    nothing_happened(device)


@pytest.mark.django_db(transaction=True)
def test_a_refused_edit_says_why_and_keeps_the_text() -> None:
    device = connected_device(phone_jid=OWN)
    own(device, timestamp=timezone.now() - timedelta(minutes=40))
    with Runner(device.pk, [failing(E.MESSAGE_SEND_FAILED, "server returned error 406")]):
        outcome = refused(device, "edit_message", E.MESSAGE_SEND_FAILED, chat=PHONE, message_id="OUT1",
                          new_text="too late")
    assert "15 minutes" in outcome.text
    assert "40 minutes ago" in outcome.text
    assert Message.objects.get(wa_id="OUT1").body == "first draft"
    assert tokens(device) == 1  # WhatsApp was asked: the token was used


# --- delete_message ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_deletion_revokes_for_everyone_and_marks_the_local_copy() -> None:
    device = connected_device(phone_jid=OWN)
    own(device)
    with Runner(device.pk, [accept]) as runner:
        outcome = ok(device, "delete_message", chat=PHONE, message_id="OUT1")
    command = runner.handled[0]
    assert command.kind == CommandKind.REVOKE
    assert (command.payload["chat_jid"], command.payload["target_wa_id"], command.payload["target_sender_jid"]) == (
        PHONE, "OUT1", OWN)
    assert "Message deleted: for everyone" in outcome.text
    assert "Message ID: OUT1" in outcome.text
    assert f"Chat JID: {PHONE}" in outcome.text
    assert outcome.data["deleted"] is True
    assert outcome.data["for_everyone"] is True
    assert Message.objects.get(wa_id="OUT1").revoked_at is not None
    assert tokens(device) == 1


@pytest.mark.django_db(transaction=True)
def test_error_479_is_explained() -> None:
    device = connected_device(phone_jid=OWN)
    own(device)
    with Runner(device.pk, [failing(E.MESSAGE_SEND_FAILED, "WhatsApp rejected the message stanza (ack 479, "
                                    "smax-invalid)", ack_code=479)]):
        outcome = refused(device, "delete_message", E.MESSAGE_SEND_FAILED, chat=PHONE, message_id="OUT1")
    assert "too old, or not sent by this account" in outcome.text
    assert outcome.details["ack_code"] == 479
    assert Message.objects.get(wa_id="OUT1").revoked_at is None


@pytest.mark.django_db
def test_other_peoples_messages_cannot_be_deleted_yet() -> None:
    device = connected_device()
    group = make_chat(device, GROUP, name="Family")
    inbound(device, "G1", chat=group)
    outcome = refused(device, "delete_message", E.VALIDATION_ERROR, chat=GROUP, message_id="G1")
    assert "group admin is not supported" in outcome.text
    nothing_happened(device)


@pytest.mark.django_db
def test_a_deleted_message_cannot_be_deleted_or_reacted_to_again() -> None:
    device = connected_device()
    own(device, revoked_at=timezone.now())
    refused(device, "delete_message", E.VALIDATION_ERROR, chat=PHONE, message_id="OUT1")
    refused(device, "send_reaction", E.VALIDATION_ERROR, chat=PHONE, message_id="OUT1", emoji="👍")
    nothing_happened(device)


# --- shared checks -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("tool", TOOLS)
def test_every_action_needs_a_connection(tool: str) -> None:
    device = make_device()
    own(device)
    refused(device, tool, E.MESSAGE_NOT_CONNECTED, **args(tool))
    nothing_happened(device)


@pytest.mark.django_db(transaction=True)
def test_a_disabled_action_is_refused_first_and_audited() -> None:
    device = connected_device()
    device.disabled_tools = "send_reaction"
    device.save(update_fields=["disabled_tools"])
    refused(device, "send_reaction", E.PERMISSION_TOOL_DISABLED, chat="not resolvable", message_id="x", emoji="no")
    nothing_happened(device)
    assert AuditLog.objects.get(action="send_reaction").error_code == "PERMISSION_TOOL_DISABLED"
    own(device)
    with Runner(device.pk, [accept]):  # the others still work
        ok(device, "delete_message", chat=PHONE, message_id="OUT1")


@pytest.mark.django_db
@pytest.mark.parametrize("tool", TOOLS)
def test_the_rate_limit_is_checked_last_before_whatsapp(tool: str) -> None:
    device = connected_device()
    own(device)
    device.rate_limit_per_min = 1
    device.save(update_fields=["rate_limit_per_min"])
    ThrottleHit.objects.create(key=f"outbound:{device.pk}")
    outcome = refused(device, tool, E.MESSAGE_RATE_LIMITED, **args(tool))
    assert outcome.details["retry_after_s"] >= 1
    assert not DeviceCommand.objects.exists()
    assert tokens(device) == 1
    # A call refused earlier (unknown message) reports that, not the limit.
    refused(device, tool, E.NOT_FOUND, **args(tool, message_id="NOPE"))


# --- every documented error, and only those ------------------------------------------------------


def _setup(device: Device) -> None:
    make_chat(device, PHONE, name="Sarah Connor")
    own(device)


def _local(code: ErrorCode) -> Callable[[Device, str], Outcome]:
    def scenario(device: Device, tool: str) -> Outcome:
        _setup(device)
        overrides: dict = {}
        if code is E.MESSAGE_RECIPIENT_NOT_FOUND:
            overrides = {"chat": "Zebediah"}
        elif code is E.MESSAGE_AMBIGUOUS_RECIPIENT:
            make_chat(device, OTHER, name="Sarah McLachlan")
            overrides = {"chat": "Sarah"}
        elif code is E.PERMISSION_CONTACT_NOT_WHITELISTED:
            allow_only(device, "+15559990000")
        elif code is E.NOT_FOUND:
            overrides = {"message_id": "NOPE"}
        elif code is E.CHAT_MISMATCH:
            overrides = {"chat": OTHER}
        elif code is E.MESSAGE_RATE_LIMITED:
            device.rate_limit_per_min = 1
            device.save(update_fields=["rate_limit_per_min"])
            ThrottleHit.objects.create(key=f"outbound:{device.pk}")
        return call(device, tool, **args(tool, **overrides))
    return scenario


def _whatsapp(code: ErrorCode) -> Callable[[Device, str], Outcome]:
    def scenario(device: Device, tool: str) -> Outcome:
        _setup(device)
        with Runner(device.pk, [failing(code, "WhatsApp said no")]):
            return call(device, tool, **args(tool))
    return scenario


LOCAL = (E.MESSAGE_RECIPIENT_NOT_FOUND, E.MESSAGE_AMBIGUOUS_RECIPIENT, E.PERMISSION_CONTACT_NOT_WHITELISTED,
         E.NOT_FOUND, E.CHAT_MISMATCH, E.MESSAGE_RATE_LIMITED)
UPSTREAM = (E.MESSAGE_SEND_FAILED, E.FORBIDDEN, E.PROVIDER_RATE_LIMITED, E.PROVIDER_ERROR, E.CONNECTION_LOST,
            E.CONNECTION_TIMEOUT, E.WHATSAPP_ERROR)
OBSERVED = dict.fromkeys(TOOLS, (*LOCAL, *UPSTREAM))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("tool", "code"), [(tool, code) for tool, codes in OBSERVED.items() for code in codes])
def test_every_documented_error_occurs(tool: str, code: ErrorCode) -> None:
    device = connected_device(phone_jid=OWN)
    outcome = (_local(code) if code in LOCAL else _whatsapp(code))(device, tool)
    assert outcome.is_error, outcome.text
    assert outcome.code is code, outcome.text
    assert outcome.data["error"]["retryable"] is code.retryable
    if code in LOCAL:
        assert not DeviceCommand.objects.exists()
        assert tokens(device) == (1 if code is E.MESSAGE_RATE_LIMITED else 0)
    else:
        assert tokens(device) == 1
        assert Message.objects.get(wa_id="OUT1").body == "first draft"


@pytest.mark.parametrize("tool", TOOLS)
def test_each_action_documents_exactly_the_errors_it_returns(tool: str) -> None:
    documented = set(REGISTRY[tool].errors) | set(COMMON) | {E.MESSAGE_NOT_CONNECTED}
    assert documented == set(OBSERVED[tool]) | set(COMMON) | {E.MESSAGE_NOT_CONNECTED}
    assert set(action_tools.UPSTREAM) == set(UPSTREAM)
