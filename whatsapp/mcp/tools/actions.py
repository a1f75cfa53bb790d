"""The message actions: send_reaction, edit_message and delete_message (reference/mcp-tools.md §2.25
to §2.27).

Each resolves ``chat`` by §1.6 and checks it against the whitelist, then finds the message in the
local store, which is the authority for its chat and its sender: a message the store does not hold is
``NOT_FOUND`` (the sender is never guessed, unlike the original, which fell back to our own JID), and
one that belongs to another chat than ``chat`` (and not to a twin of it) is ``CHAT_MISMATCH`` (the
original silently used the stored chat). The message's own chat must pass the whitelist too. Only
then, after the action's own checks, is the outbound token taken and the action sent through
:mod:`whatsapp.services.actions`, which updates the local copy once WhatsApp accepted it.
"""

from __future__ import annotations

from django.utils import timezone

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp import formatting as fmt
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, lines, text, tool
from whatsapp.models import Message, MessageType
from whatsapp.services import actions
from whatsapp.services.directory import display_name
from whatsapp.services.messages import MAX_TEXT_CHARS
from whatsapp.services.recipients import Resolved, resolve

E = ErrorCode

#: What the round trip of a reaction, edit or revoke may end with: WhatsApp's refusal of the stanza
#: (``MESSAGE_SEND_FAILED``, e.g. error 479), its other refusals and limits, the connection dropping
#: meanwhile, or the runner not answering in time.
UPSTREAM = (E.MESSAGE_SEND_FAILED, E.FORBIDDEN, E.PROVIDER_RATE_LIMITED, E.PROVIDER_ERROR, E.CONNECTION_LOST,
            E.CONNECTION_TIMEOUT, E.WHATSAPP_ERROR)
#: Every action's own refusals, in the order they are checked.
LOCAL = (E.MESSAGE_RECIPIENT_NOT_FOUND, E.MESSAGE_AMBIGUOUS_RECIPIENT, E.PERMISSION_CONTACT_NOT_WHITELISTED,
         E.NOT_FOUND, E.CHAT_MISMATCH, E.MESSAGE_RATE_LIMITED)

CHAT = ("The chat the message is in: a JID, a phone number in international format, or a chat/contact name "
        "(§1.6). It must be the message's chat or a twin of it (the same person's phone JID or LID).")
MESSAGE_ID = "The WhatsApp message ID, as list_messages or search_messages show it."
EDIT_WINDOW_MIN = 15  # WhatsApp accepts edits for about 15 minutes after sending


def _invalid(message: str, field: str, **details: object) -> WhatsAppError:
    return WhatsAppError(E.VALIDATION_ERROR, message, details={"field": field, **details})


def _target(call: ToolCall) -> tuple[Resolved, Message]:
    """§1.4 step 4 shared by the three actions: the chat (resolution, whitelist), the stored message
    (``NOT_FOUND``), the chat it really is in (``CHAT_MISMATCH``), and that chat's whitelist."""
    chat = resolve(call.device, call["chat"], field="chat")
    call.audit["chat_jid"] = chat.jid
    call.ensure_allowed(chat.jid)
    wa_id = call["message_id"].strip()
    if not wa_id:
        raise _invalid("message_id is required.", "message_id")
    message = Message.objects.select_related("chat").filter(device=call.device, wa_id=wa_id).first()
    if message is None:
        raise WhatsAppError(E.NOT_FOUND, f"No message {wa_id!r} in the local store.",
                            details={"message_id": wa_id, "chat_jid": chat.jid},
                            recovery="Find the message ID with list_messages or search_messages on the chat; an "
                                     "action needs the stored message (its sender is never guessed).")
    real = message.chat.jid
    if real not in {chat.jid, *chat.twins} and not message.chat.with_twins().filter(jid=chat.jid).exists():
        visible = call.allowed(real)  # name the real chat only when the caller may see it
        raise WhatsAppError(E.CHAT_MISMATCH,
                            f"Message {wa_id!r} is not in {chat.name if chat.name != chat.jid else chat.jid}"
                            + (f"; it belongs to {real}." if visible else "."),
                            details={"message_id": wa_id, "chat_jid": chat.jid,
                                     **({"message_chat_jid": real} if visible else {})})
    call.ensure_allowed(real)
    call.audit["message_chat_jid"] = real
    return chat, message


def _own_and_sent(message: Message, verb: str, *, others: str = "") -> None:
    """The service's rule for edits and revokes, checked here so a refusal takes no token."""
    try:
        actions.ensure_own_and_sent(message, verb)
    except WhatsAppError as error:
        if others and not message.from_me:
            error.message += others
        raise


def _chat_line(call: ToolCall, message: Message) -> str:
    name = display_name(call.device, message.chat.jid)
    return f"{name} ({message.chat.jid})" if name != message.chat.jid else message.chat.jid


# --- send_reaction --------------------------------------------------------------------------------


@tool("send_reaction", "React to a message with one emoji, or remove this account's reaction with \"\".",
      text("chat", CHAT, required=True, max_length=200),
      text("message_id", MESSAGE_ID, required=True, max_length=200),
      text("emoji", "Exactly one emoji (flags, skin tones, families and keycaps count as one), or \"\" to remove "
           "the reaction.", required=True),
      live=True, rate="outbound",
      response="Labelled lines: Reaction (the emoji set, or removed), Message ID, Chat (name and JID), Chat JID.",
      errors=(*LOCAL, *UPSTREAM),
      examples=('send_reaction(chat="Mom", message_id="3EB0C767D71D3F5A2B11", emoji="👍")',
                'send_reaction(chat="+15551234567", message_id="3EB0C767D71D3F5A2B11", emoji="👨‍👩‍👧‍👦")',
                'send_reaction(chat="15551234567@s.whatsapp.net", message_id="3EB0C767D71D3F5A2B11", emoji="")'),
      related=("list_messages", "search_messages", "edit_message", "delete_message"),
      pitfalls=("The message must be in the local store (list_messages shows its ID) and in the given chat or a "
                "twin of it; otherwise NOT_FOUND or CHAT_MISMATCH, and nothing is sent.",
                "Text such as \"ok\" or two emoji is refused; give one emoji."))
def send_reaction(call: ToolCall) -> ToolResult:
    raw = call["emoji"]
    emoji = raw.strip()
    if raw and not (emoji and actions.is_single_emoji(emoji)):
        raise _invalid(f"{raw!r} is not a single emoji; give exactly one emoji, or \"\" to remove the reaction.",
                       "emoji")
    _, message = _target(call)
    actions.ensure_not_revoked(message, "reacted to")
    call.take("outbound")
    result = actions.react(call.device, message.wa_id, emoji)
    body = lines(("Reaction", f"{emoji} set" if emoji else "removed"), ("Message ID", message.wa_id),
                 ("Chat", _chat_line(call, message)), ("Chat JID", result.chat_jid))
    return ToolResult(body, {"message_id": message.wa_id, "chat_jid": result.chat_jid, "emoji": emoji or None,
                             "removed": result.removed, "reaction_id": result.action_wa_id,
                             "timestamp": fmt.iso(result.timestamp)})


# --- edit_message ---------------------------------------------------------------------------------


@tool("edit_message", "Replace the text of one of this account's own text messages (WhatsApp accepts edits for "
      "about 15 minutes after sending).",
      text("chat", CHAT, required=True, max_length=200),
      text("message_id", MESSAGE_ID, required=True, max_length=200),
      text("new_text", "The new text, 1 to 4096 characters.", required=True, min_length=1, max_length=MAX_TEXT_CHARS),
      live=True, rate="outbound",
      response="Labelled lines: Message edited (yes), Message ID, Chat (name and JID), Chat JID, Edited at.",
      errors=(*LOCAL, *UPSTREAM),
      examples=('edit_message(chat="Mom", message_id="3EB0C767D71D3F5A2B11", new_text="See you at 7, not 6")',),
      related=("list_messages", "delete_message", "send_message"),
      pitfalls=("Only text messages this account sent can be edited (VALIDATION_ERROR otherwise).",
                "WhatsApp refuses edits after about 15 minutes; the refusal is reported as an error and the local "
                "copy keeps its text."))
def edit_message(call: ToolCall) -> ToolResult:
    new_text = call["new_text"]
    if not new_text.strip():
        raise _invalid("new_text must contain text, not only whitespace.", "new_text")
    _, message = _target(call)
    _own_and_sent(message, "edited")
    if message.type != MessageType.TEXT:
        raise _invalid(f"Only text messages can be edited; {message.wa_id!r} is a {message.type} message.",
                       "message_id", message_id=message.wa_id, type=message.type)
    call.take("outbound")
    try:
        result = actions.edit_message(call.device, message.wa_id, new_text)
    except WhatsAppError as error:
        if error.code in (E.MESSAGE_SEND_FAILED, E.FORBIDDEN, E.VALIDATION_ERROR):  # WhatsApp said no
            age = int((timezone.now() - (message.sent_at or message.timestamp)).total_seconds() // 60)
            raise WhatsAppError(error.code, f"WhatsApp refused to edit message {message.wa_id!r} ({error.message}). "
                                f"WhatsApp accepts edits for about {EDIT_WINDOW_MIN} minutes after sending; this "
                                f"message was sent {age} minute{'s' if age != 1 else ''} ago.",
                                details={**error.details, "message_id": message.wa_id, "age_minutes": age},
                                recovery="Send a new message with the corrected text instead.") from error
        raise
    body = lines(("Message edited", "yes"), ("Message ID", message.wa_id), ("Chat", _chat_line(call, message)),
                 ("Chat JID", result.chat_jid), ("Edited at", fmt.when(result.timestamp)))
    return ToolResult(body, {"message_id": message.wa_id, "chat_jid": result.chat_jid, "edited": True,
                             "edit_id": result.action_wa_id, "edited_at": fmt.iso(result.timestamp)})


# --- delete_message -------------------------------------------------------------------------------


@tool("delete_message", "Delete one of this account's messages for everyone (revoke).",
      text("chat", CHAT, required=True, max_length=200),
      text("message_id", MESSAGE_ID, required=True, max_length=200),
      live=True, destructive=True, rate="outbound",
      response="Labelled lines: Message deleted (for everyone), Message ID, Chat (name and JID), Chat JID.",
      errors=(*LOCAL, *UPSTREAM),
      examples=('delete_message(chat="Mom", message_id="3EB0C767D71D3F5A2B11")',),
      related=("list_messages", "edit_message"),
      pitfalls=("Deleting cannot be undone.",
                "WhatsApp error 479 means the message is too old to delete for everyone, or was not sent by this "
                "account.",
                "Deleting other people's messages (as a group admin) is not supported by this gateway yet: only "
                "this account's own messages can be deleted."))
def delete_message(call: ToolCall) -> ToolResult:
    _, message = _target(call)
    _own_and_sent(message, "deleted", others=" Deleting other people's messages as a group admin is not supported "
                  "by this gateway yet.")
    call.take("outbound")
    try:
        result = actions.revoke_message(call.device, message.wa_id)
    except WhatsAppError as error:
        if error.details.get("ack_code") == 479 or "error 479" in error.message or "ack 479" in error.message:
            raise WhatsAppError(error.code, f"WhatsApp refused to delete message {message.wa_id!r} (error 479): it is "
                                "too old, or not sent by this account.",
                                details={**error.details, "message_id": message.wa_id},
                                recovery="Nothing to retry: WhatsApp only deletes recent messages of their sender "
                                         "for everyone.") from error
        raise
    body = lines(("Message deleted", "for everyone"), ("Message ID", message.wa_id),
                 ("Chat", _chat_line(call, message)), ("Chat JID", result.chat_jid))
    return ToolResult(body, {"message_id": message.wa_id, "chat_jid": result.chat_jid, "deleted": True,
                             "for_everyone": True, "revoke_id": result.action_wa_id,
                             "deleted_at": fmt.iso(result.timestamp)})
