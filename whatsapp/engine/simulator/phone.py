"""What the rest of the network does to the device: incoming messages, reactions, edits, revokes,
receipts, presence, typing and history sync — each the engine's answer to one ``simulate`` action."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from whatsapp import jids
from whatsapp.engine.base import (
    ChatPresenceChanged,
    ChatState,
    HistoryBatch,
    InboundMessage,
    Kind,
    MediaRef,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    PresenceChanged,
    ReactionReceived,
    ReceiptReceived,
    ReceiptStatus,
)
from whatsapp.engine.simulator import changes, world
from whatsapp.engine.simulator.db import retrying
from whatsapp.engine.simulator.models import NetworkRecord, WorldContact

HISTORY_TEXTS = ("See you tomorrow!", "Thanks 🙏", "Did you get my email?", "On my way", "Sounds good",
                 "Can you call me later?", "Happy birthday! 🎉", "The meeting moved to 3 pm", "👍", "Haha")


@dataclass(frozen=True)
class Party:
    """Who a network action comes from and in which chat, addressed as WhatsApp addresses them."""

    chat_jid: str
    sender_jid: str
    sender_phone_jid: str
    sender_lid: str
    push_name: str
    from_me: bool


class PhoneMixin:
    """The network-to-device half of :class:`SimulatorEngine`."""

    # Held by WhatsApp while the device is offline and delivered when it reconnects.
    DELIVERIES = frozenset({"message", "react", "edit", "revoke", "receipt", "history"})
    # Live only: lost when the device is offline.
    EPHEMERAL = frozenset({"presence", "typing"})

    def _party(self, payload: dict[str, Any]) -> Party:
        use_lid = bool(payload.get("lid"))
        group = payload.get("group") or ""
        found = None
        if group:
            group = jids.normalize(group)
            found = world.group(group)
            if found is None:
                raise LookupError(f"no group {group} in the simulated world")
            if not found.role_of(self._me()[0]):
                raise LookupError(f"the linked account is not a participant of {group}")
        if payload.get("from_me"):
            phone, lid, push_name = self._me()
            sender = lid if use_lid and lid else phone
            peer = payload.get("to") or payload.get("from") or ""
            if group:
                chat = group
            elif peer:
                chat = self._address(world.parse_address(peer), use_lid)
            else:
                raise ValueError("a message typed on the account's phone needs --to (or --group)")
            return Party(chat, sender, phone, lid, push_name, True)
        if not payload.get("from"):
            raise ValueError("--from is required")
        contact = self._sender(world.parse_address(payload["from"]), use_lid)
        sender = contact.lid if use_lid or not contact.phone_jid else contact.phone_jid
        if found is not None and not found.role_of(contact.phone_jid):
            raise LookupError(f"{contact.phone_jid} is not a participant of {group}")
        self.reveal(contact.phone_jid, contact.lid)
        return Party(group or sender, sender, contact.phone_jid, contact.lid, contact.name, False)

    def _sender(self, address: str, use_lid: bool) -> WorldContact:
        """The person behind an address; an unknown phone number joins the world (anyone may write to
        you), and ``--lid`` gives a person without one a LID, as WhatsApp's migration does."""
        contact = world.contact_for(address)
        if contact is None:
            if jids.is_lid(address):
                raise LookupError(f"unknown LID {address}: add the person with `simulate add-contact --lid`")
            contact = world.add_contact(address.split("@")[0], lid="auto" if use_lid else "")
        if not contact.on_whatsapp:
            raise LookupError(f"{contact.phone_jid} is not on WhatsApp in the simulated world")
        if use_lid and not contact.lid:
            contact = world.add_contact(contact.phone_jid.split("@")[0], name=contact.name, lid="auto",
                                        about=contact.about, reads=contact.reads, online=contact.online,
                                        add_privacy=contact.add_privacy, verified_name=contact.verified_name)
        return contact

    def _address(self, jid: str, use_lid: bool) -> str:
        """A person's chat as WhatsApp addresses it: by LID when asked and known."""
        phone, lid = world.twins(jid)
        return lid if use_lid and lid else (phone or jid)

    # --- messages ------------------------------------------------------------------------------

    def _act_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        party = self._party(payload)
        kind = Kind(payload.get("kind") or "text")
        media = None
        if payload.get("media"):
            m = payload["media"]
            media = MediaRef(mime_type=m["mime_type"], size=m["size"], sha256=m["sha256"],
                             file_name=m.get("file_name", ""), duration_s=m.get("duration_s"),
                             ptt=bool(m.get("ptt")), locator=m["locator"])
        content: dict[str, Any] = {}
        for key in ("location", "contact", "poll"):
            if payload.get(key):
                content.update(payload[key])
        if payload.get("view_once"):
            content["view_once"] = True
        message = InboundMessage(
            wa_id=payload.get("id") or world.new_phone_message_id(), chat_jid=party.chat_jid,
            sender_jid=party.sender_jid, timestamp=timezone.now(), kind=kind, text=payload.get("text") or "",
            from_me=party.from_me, sender_phone_jid=party.sender_phone_jid, sender_lid=party.sender_lid,
            push_name=party.push_name, media=media, quoted_wa_id=payload.get("quote") or "", content=content)
        self.sink(MessageReceived(message))
        return {"wa_id": message.wa_id, "chat_jid": message.chat_jid, "sender_jid": message.sender_jid,
                "sender_phone_jid": message.sender_phone_jid, "sender_lid": message.sender_lid,
                "kind": kind.value, "timestamp": message.timestamp.isoformat(),
                "media": {"size": media.size, "sha256": media.sha256, "locator": media.locator} if media else None}

    def _act_react(self, payload: dict[str, Any]) -> dict[str, Any]:
        party = self._party(payload)
        event = ReactionReceived(chat_jid=party.chat_jid, sender_jid=party.sender_jid, target_wa_id=payload["target"],
                                 emoji=payload.get("emoji") or "", timestamp=timezone.now(), from_me=party.from_me)
        self.sink(event)
        return {"chat_jid": event.chat_jid, "sender_jid": event.sender_jid, "target_wa_id": event.target_wa_id,
                "emoji": event.emoji}

    def _act_edit(self, payload: dict[str, Any]) -> dict[str, Any]:
        party = self._party(payload)
        event = MessageEdited(chat_jid=party.chat_jid, sender_jid=party.sender_jid, target_wa_id=payload["target"],
                              text=payload.get("text") or "", timestamp=timezone.now(), from_me=party.from_me)
        self.sink(event)
        return {"chat_jid": event.chat_jid, "sender_jid": event.sender_jid, "target_wa_id": event.target_wa_id}

    def _act_revoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        party = self._party(payload)
        event = MessageRevoked(chat_jid=party.chat_jid, sender_jid=party.sender_jid, target_wa_id=payload["target"],
                               timestamp=timezone.now(), from_me=party.from_me)
        self.sink(event)
        return {"chat_jid": event.chat_jid, "sender_jid": event.sender_jid, "target_wa_id": event.target_wa_id}

    # --- receipts, presence, typing ------------------------------------------------------------

    def _act_receipt(self, payload: dict[str, Any]) -> dict[str, Any]:
        wa_ids = list(payload.get("wa_ids") or [])
        if not wa_ids:
            raise ValueError("name at least one message id")
        sent = retrying(lambda: NetworkRecord.objects.filter(device_id=self.device_id, wa_id=wa_ids[0]).first(),
                        atomic=False)
        if sent is None:
            raise LookupError(f"the device sent no message with id {wa_ids[0]}")
        chat = sent.chat_jid
        if jids.is_group(chat):
            if not payload.get("from"):
                raise ValueError("a receipt in a group needs --from (the member who received or read it)")
            reader = world.parse_address(payload["from"])
            sender = world.twins(reader)[0] or reader
        else:
            sender = chat
        status = ReceiptStatus(payload.get("status") or "read")
        event = ReceiptReceived(chat_jid=chat, sender_jid=sender, wa_ids=tuple(wa_ids), status=status,
                                timestamp=timezone.now())
        self.sink(event)
        return {"chat_jid": chat, "sender_jid": sender, "wa_ids": wa_ids, "status": status.value}

    def _act_presence(self, payload: dict[str, Any]) -> dict[str, Any]:
        jid = world.parse_address(payload["jid"])
        available = bool(payload.get("available"))
        last_seen = datetime.fromisoformat(payload["last_seen"]) if payload.get("last_seen") else None
        if not available and last_seen is None:
            last_seen = timezone.now()
        if retrying(lambda: WorldContact.objects.filter(phone_jid=world.twins(jid)[0] or jid).update(online=available)):
            changes.world_changed()  # an UPDATE sends no post_save
        self.sink(PresenceChanged(jid=jid, available=available, last_seen=last_seen))
        return {"jid": jid, "available": available, "last_seen": last_seen.isoformat() if last_seen else None,
                "delivered": True}

    def _act_typing(self, payload: dict[str, Any]) -> dict[str, Any]:
        party = self._party(payload)
        state = ChatState(payload.get("state") or "composing")
        self.sink(ChatPresenceChanged(chat_jid=party.chat_jid, sender_jid=party.sender_jid, state=state))
        return {"chat_jid": party.chat_jid, "sender_jid": party.sender_jid, "state": state.value, "delivered": True}

    # --- history sync --------------------------------------------------------------------------

    def _act_history(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A history-sync blob of ``count`` past messages across the account's chats, oldest first."""
        count = max(0, int(payload.get("count") or 20))
        me_phone, me_lid, me_name = self._me()
        contacts = retrying(lambda: list(WorldContact.objects.filter(on_whatsapp=True).exclude(phone_jid=me_phone)),
                            atomic=False)
        groups = world.groups_of(me_phone)
        chats: list[tuple[str, list[WorldContact]]] = [(c.phone_jid, [c]) for c in contacts]
        by_phone = {c.phone_jid: c for c in contacts}
        for group in groups:
            members = [by_phone[p["jid"]] for p in group.participants if p["jid"] in by_phone]
            if members:
                chats.append((group.jid, members))
        rng = random.Random()
        now = timezone.now()
        stamps = sorted(now - timedelta(minutes=rng.randint(5, 60 * 24 * 30)) for _ in range(count))
        messages = []
        for stamp in stamps:
            chat, members = rng.choice(chats)
            from_me = rng.random() < 0.35
            person = rng.choice(members)
            if from_me:
                sender, phone, lid, name = me_phone, me_phone, me_lid, me_name
            else:
                sender, phone, lid, name = person.phone_jid, person.phone_jid, person.lid, person.name
                self.reveal(phone, lid)
            messages.append(InboundMessage(
                wa_id=world.new_companion_message_id() if from_me else world.new_phone_message_id(), chat_jid=chat,
                sender_jid=sender, timestamp=stamp.replace(microsecond=0), text=rng.choice(HISTORY_TEXTS),
                from_me=from_me, sender_phone_jid=phone, sender_lid=lid, push_name=name))
        progress = payload.get("progress")
        self.sink(HistoryBatch(messages=tuple(messages), progress=int(progress) if progress is not None else None))
        return {"count": len(messages), "chats": len({m.chat_jid for m in messages}),
                "from_me": sum(m.from_me for m in messages), "progress": progress}
