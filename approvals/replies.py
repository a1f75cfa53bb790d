"""Deciding approvals from WhatsApp replies (reference/mcp-tools.md §3.1).

Every stored inbound message goes through :func:`decide_from_message`: if it is eligible, it picks
the approval it answers (an explicit request id from the right chat; else the newest pending one for
the chat; else for the chat's LID/phone twin) and reads the answer from keywords. Exactly one side
matching decides; both ("yes or no?") or neither change nothing. The decision is the model's
conditional write, so the first decisive reply wins and a later one changes nothing.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from approvals.models import Approval, ApprovalStatus, DecisionSource
from whatsapp import jids
from whatsapp.errors import WhatsAppError
from whatsapp.models import Contact, Device, Message
from whatsapp.services.policies import whitelist_for

logger = logging.getLogger("approvals")

APPROVE_WORDS = ("approve", "approved", "yes", "ok", "okay", "confirm", "y")
DENY_WORDS = ("deny", "denied", "no", "reject", "cancel", "n")
APPROVE_EMOJI = ("\u2705", "\u2714")  # ✅ and ✔ (with or without U+FE0F, which is stripped first)
DENY_EMOJI = ("\u274c", "\U0001f6ab")  # ❌ 🚫
HISTORY_WINDOW = timedelta(seconds=120)
REQUEST_ID = re.compile(r"approval_[A-Za-z0-9_]+")


def _words(words: tuple[str, ...]) -> re.Pattern[str]:
    # \w is Unicode-aware in Python: "nó" or "yesé" are one word each, and never match.
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)")


_APPROVE, _DENY = _words(APPROVE_WORDS), _words(DENY_WORDS)


def answer_of(text: str) -> bool | None:
    """True (approve), False (deny) or None (no decision: neither side, or both)."""
    folded = text.strip().lower().replace("\ufe0f", "")
    approve = bool(_APPROVE.search(folded)) or any(emoji in folded for emoji in APPROVE_EMOJI)
    deny = bool(_DENY.search(folded)) or any(emoji in folded for emoji in DENY_EMOJI)
    if approve == deny:
        return None
    return approve


def _twins(device: Device, jid: str) -> list[str]:
    """The other address of the person behind ``jid`` (phone JID ↔ LID), when known."""
    if not (jids.is_phone(jid) or jids.is_lid(jid)):
        return []
    contact = Contact.objects.filter(device=device).filter(**{"lid" if jids.is_lid(jid) else "phone_jid": jid}).first()
    return [address for address in (contact.addresses if contact else []) if address != jid]


def _pending(device: Device) -> QuerySet[Approval]:
    return Approval.objects.filter(device=device, status=ApprovalStatus.PENDING, expires_at__gt=timezone.now())


def target_of(device: Device, message: Message) -> Approval | None:
    """The approval ``message`` answers, or None."""
    chat_jid = message.chat.jid
    twins = _twins(device, chat_jid)
    quoted = REQUEST_ID.findall(message.body or "")
    if quoted:
        # Only the quoted request, only while pending, only from its recipient (or a twin of it).
        return _pending(device).filter(pk__in=quoted, recipient_jid__in=[chat_jid, *twins]).first()
    for addresses in ([chat_jid], twins):
        if addresses:
            found = _pending(device).filter(recipient_jid__in=addresses).order_by("-created_at").first()
            if found is not None:
                return found
    return None


def eligible(device: Device, message: Message) -> bool:
    """Text (or a caption), live or from history less than 120 s old, in a chat the whitelist allows;
    own messages typed on the account's phone only answer an approval addressed to our own JID. (What
    this gateway sent is never ingested: its echo has the id the send stored, and ingest keeps one
    row per id.)"""
    if not (message.body or "").strip():
        return False
    if message.from_history and timezone.now() - message.timestamp > HISTORY_WINDOW:
        return False
    if not whitelist_for(device).allows(device, message.chat.jid):
        return False
    if message.from_me:
        own = {jid for jid in (device.phone_jid, device.lid) if jid}
        return message.chat.jid in own
    return True


def decide_from_message(device: Device, message: Message) -> Approval | None:
    """Decide the approval ``message`` answers, if any; returns it when this message decided it.

    Runs in a savepoint of its own and never raises: whatever goes wrong here must not undo the
    storing of the message it was called for."""
    try:
        with transaction.atomic():
            return _decide(device, message)
    except Exception:
        logger.exception("approval matching failed for message %s", message.wa_id)
        return None


def _decide(device: Device, message: Message) -> Approval | None:
    if not eligible(device, message):
        return None
    approved = answer_of(message.body)
    if approved is None:
        return None
    approval = target_of(device, message)
    if approval is None:
        return None
    try:
        approval.respond(approved, DecisionSource.REPLY, text=message.body)
    except WhatsAppError as error:  # another reply (or the clock) was first
        logger.info("approval %s: reply %s ignored (%s)", approval.pk, message.wa_id, error.code.name)
        return None
    return approval
