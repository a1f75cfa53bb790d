"""Who an address is, and the chat list every offline MCP tool reads (reference/mcp-tools.md, Terms).

* **Display name** of a JID, first available of:

  1. the custom name (set through the gateway) of the JID's contact — one person's phone JID and
     LIDs share one :class:`Contact`, so this is also "a twin's custom name";
  2. the stored chat name of the JID, else of a twin's chat (newest activity first), when non-empty
     and not itself one of the person's JIDs;
  3. the names WhatsApp synced for the contact: ``full_name`` (the account's address book), then
     ``push_name`` (what the person calls themself), then ``business_name``;
  4. the JID.

* **Unified chat list**: twins merged into one entry keyed by the LID when known, else the phone
  JID; counts summed, newest activity and preview kept; groups never merged; newest first.

:class:`Directory` loads a device's contacts and chats once (two queries), so a list of hundreds
of chats is named without one query per row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from whatsapp import jids
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, ChatKind, Contact, Device, Direction, Message
from whatsapp.services.policies import Whitelist, whitelist_for

# What counts as unread: incoming, not own, not marked read, and not history sync (ingest never
# counts those). The same rule as ``actions.COUNTS_AS_UNREAD`` and ``Message.is_unread``; counted
# from the messages because they are the truth that marking read and purges change.
UNREAD = Q(direction=Direction.INBOUND, from_me=False, read_at__isnull=True, from_history=False)

PREVIEW_CHARS = 60
MAX_QUERY_CHARS = 500
MAX_SEARCH_LIMIT = 50
MAX_RELATED_CHATS = 10
_DIGITS = re.compile(r"[0-9]", re.ASCII)


def clip(text: str, limit: int) -> str:
    """``text`` on one line and at most ``limit`` characters, an ellipsis marking a cut."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def normalized(jid: str) -> str:
    """The JID without device suffix; what is not a JID (``status@broadcast``) stays as it is."""
    try:
        return jids.normalize(jid)
    except ValueError:
        return (jid or "").strip()


def _user(jid: str) -> str:
    return jid.split("@", 1)[0]


class Directory:
    """A device's contacts and chats, loaded once, answering who a JID is.

    ``only`` restricts loading to what is needed for those JIDs (their contacts, their chats and
    their twins' chats): for naming one address without reading the whole store.
    """

    def __init__(self, device: Device, *, only: Iterable[str] | None = None) -> None:
        self.device = device
        contacts, chats = self._load(device, None if only is None else {normalized(j) for j in only})
        self._chats: list[Chat] = chats
        self._chat_by_jid: dict[str, Chat] = {chat.jid: chat for chat in chats}
        self._contact_by_address: dict[str, Contact] = {}
        self._contact_by_pk: dict[int, Contact] = {contact.pk: contact for contact in contacts}
        self._addresses: dict[int, list[str]] = {}
        for contact in contacts:
            self._addresses[contact.pk] = list(contact.addresses)
            for address in contact.addresses:
                self._contact_by_address[address] = contact
        # A chat may hold a contact whose current LID is another one (the newest mapping wins):
        # it stays that person's chat.
        for chat in sorted(chats, key=_newest_first):
            contact = self._contact_by_pk.get(chat.contact_id) if chat.contact_id else None
            if contact is None or chat.kind == ChatKind.GROUP:
                continue
            self._contact_by_address.setdefault(chat.jid, contact)
            if chat.jid not in self._addresses[contact.pk]:
                self._addresses[contact.pk].append(chat.jid)

    @staticmethod
    def _load(device: Device, only: set[str] | None) -> tuple[list[Contact], list[Chat]]:
        if only is None:
            return list(Contact.objects.filter(device=device)), list(Chat.objects.filter(device=device))
        people = [jid for jid in only if jids.is_phone(jid) or jids.is_lid(jid)]
        contacts = list(Contact.objects.filter(device=device).filter(Q(phone_jid__in=people) | Q(lid__in=people))) \
            if people else []
        addresses = set(only) | {a for contact in contacts for a in contact.addresses}
        chats = list(Chat.objects.filter(device=device).filter(
            Q(jid__in=sorted(addresses)) | Q(contact_id__in=[c.pk for c in contacts])))
        known = {contact.pk for contact in contacts}
        missing = {chat.contact_id for chat in chats if chat.contact_id and chat.contact_id not in known}
        if missing:
            contacts += list(Contact.objects.filter(pk__in=missing))
        return contacts, chats

    # --- who an address is ---------------------------------------------------------------------

    def chats(self) -> list[Chat]:
        """The chat rows loaded."""
        return list(self._chats)

    def chat(self, jid: str) -> Chat | None:
        return self._chat_by_jid.get(normalized(jid))

    def contact(self, jid: str) -> Contact | None:
        """The person addressed by ``jid`` (phone JID or LID), if the store knows them."""
        return self._contact_by_address.get(normalized(jid))

    def twins(self, jid: str) -> list[str]:
        """Every address of the person ``jid`` names, ``jid`` included: the phone JID first, then the
        LID, then any older LID a chat still holds. A group or an unknown JID is only itself."""
        jid = normalized(jid)
        contact = self.contact(jid)
        if contact is None:
            return [jid]
        addresses = self._addresses[contact.pk]
        return addresses if jid in addresses else [*addresses, jid]

    def key_of(self, jid: str) -> str:
        """The JID that stands for the person in the unified chat list: the LID when one is known,
        else the phone JID. Groups and unknown JIDs stand for themselves."""
        jid = normalized(jid)
        contact = self.contact(jid)
        if contact is None or jids.is_group(jid):
            return jid
        return contact.lid or contact.phone_jid or jid

    def phone_of(self, jid: str) -> str | None:
        """The phone number (digits) of the person ``jid`` names, directly or through a twin."""
        jid = normalized(jid)
        if jids.is_phone(jid):
            return _user(jid)
        contact = self.contact(jid)
        if contact is not None and contact.phone_jid:
            return _user(contact.phone_jid)
        return None

    def name(self, jid: str, *, chat_name: str | None = None) -> str:
        """The display name of ``jid`` (see the module docstring for the order). ``chat_name``, when
        given, stands for the stored name of ``jid``'s own chat."""
        jid = normalized(jid)
        contact = self.contact(jid)
        if contact is not None and contact.custom_name.strip():
            return contact.custom_name.strip()
        own = self.twins(jid)
        for candidate in self._chat_names(jid, chat_name):
            if candidate and candidate not in own:
                return candidate
        if contact is not None:
            for synced in (contact.full_name, contact.push_name, contact.business_name):
                if synced.strip():
                    return synced.strip()
        return jid

    def _chat_names(self, jid: str, chat_name: str | None) -> Iterable[str]:
        own = self._chat_by_jid.get(jid)
        yield (chat_name if chat_name is not None else (own.name if own else "")).strip()
        twin_chats = [self._chat_by_jid[twin] for twin in self.twins(jid) if twin != jid and twin in self._chat_by_jid]
        for chat in sorted(twin_chats, key=_newest_first):
            yield chat.name.strip()

    def sender_name(self, jid: str, push_name: str = "") -> str:
        """How a message's sender is shown: the display name, else the name the message carried,
        else the phone number (``+digits``), else the JID."""
        jid = normalized(jid)
        named = self.name(jid) if jid else ""
        if named and named != jid:
            return named
        if push_name.strip():
            return push_name.strip()
        phone = self.phone_of(jid) if jid else None
        return f"+{phone}" if phone else jid


def _newest_first(chat: Chat) -> tuple[bool, float, int]:
    stamp = chat.last_message_at
    return (stamp is None, -stamp.timestamp() if stamp else 0.0, chat.pk)


def display_name(device: Device, jid: str, *, chat_name: str | None = None) -> str:
    """The display name of one JID (a few queries). For lists, use one :class:`Directory`."""
    return Directory(device, only=[jid]).name(jid, chat_name=chat_name)


# --- the unified chat list ------------------------------------------------------------------------


@dataclass
class ChatEntry:
    """One line of the unified chat list: a group, or a person with all their twin chats merged."""

    jid: str  # the LID when known, else the phone JID; a group's JID
    kind: str  # "group", "direct" or "broadcast"
    name: str  # display name
    twins: list[str]  # every address of the person (phone JID first, then LIDs); [jid] for groups
    phone: str | None  # digits, people only
    unread: int = 0  # incoming, not own, not read
    message_count: int = 0
    messages_last_hour: int = 0
    last_message_at: datetime | None = None
    preview: str = ""  # of the newest message, at most 60 characters
    chat_ids: list[int] = field(default_factory=list)  # the merged Chat rows

    @property
    def is_group(self) -> bool:
        return self.kind == ChatKind.GROUP

    @property
    def is_named(self) -> bool:
        """Whether the display name is a name, not the JID it falls back to."""
        return self.name not in (self.jid, *self.twins)


def unified_chats(device: Device, *, groups_only: bool = False, name_filter: str | None = None,
                  allowed: Whitelist | None = None, now: datetime | None = None,
                  directory: Directory | None = None) -> list[ChatEntry]:
    """The unified chat list, newest activity first (chats never active last).

    ``allowed`` defaults to the device's whitelist (pass ``Whitelist()`` to list everything);
    disallowed chats, and with ``name_filter`` (case-insensitive substring of the display name)
    the names that do not contain it, are dropped before any paging. Queries: contacts, chats,
    one grouped count over messages, and the whitelist's own when it restricts.
    """
    directory = directory or Directory(device)
    whitelist = whitelist_for(device) if allowed is None else allowed
    rows = directory.chats()
    if not whitelist.allows_everything:
        permitted = set(Chat.objects.filter(device=device).filter(whitelist.chat_filter(device))
                        .values_list("pk", flat=True))
        rows = [row for row in rows if row.pk in permitted]
    if groups_only:
        rows = [row for row in rows if row.kind == ChatKind.GROUP]
    counts = _message_counts(device, now or timezone.now()) if rows else {}
    entries: dict[str, ChatEntry] = {}
    for row in sorted(rows, key=_newest_first):
        key = row.jid if row.kind == ChatKind.GROUP else directory.key_of(row.jid)
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = _new_entry(directory, key, row)
        _merge(entry, row, counts.get(row.pk, (0, 0, 0)))
    result = list(entries.values())
    needle = (name_filter or "").strip().casefold()
    if needle:
        result = [entry for entry in result if needle in entry.name.casefold()]
    result.sort(key=lambda e: (e.last_message_at is None, -e.last_message_at.timestamp() if e.last_message_at
                               else 0.0, e.jid))
    return result


def _message_counts(device: Device, now: datetime) -> dict[int, tuple[int, int, int]]:
    """Per chat pk: (unread, messages, messages in the last hour), one grouped query."""
    rows = (Message.objects.filter(device=device).order_by().values("chat_id")
            .annotate(unread=Count("pk", filter=UNREAD), total=Count("pk"),
                      recent=Count("pk", filter=Q(timestamp__gte=now - timedelta(hours=1))))
            .values_list("chat_id", "unread", "total", "recent"))
    return {chat_id: (unread, total, recent) for chat_id, unread, total, recent in rows}


def _new_entry(directory: Directory, key: str, row: Chat) -> ChatEntry:
    if row.kind == ChatKind.GROUP:
        return ChatEntry(jid=key, kind=row.kind, name=directory.name(key, chat_name=row.name), twins=[key],
                         phone=None)
    return ChatEntry(jid=key, kind=row.kind, name=directory.name(key), twins=directory.twins(key),
                     phone=directory.phone_of(key))


def _merge(entry: ChatEntry, row: Chat, counts: tuple[int, int, int]) -> None:
    """Add one chat row to its entry. Rows arrive newest first, so the first sets the preview."""
    unread, total, recent = counts
    entry.unread += unread
    entry.message_count += total
    entry.messages_last_hour += recent
    entry.chat_ids.append(row.pk)
    if row.jid not in entry.twins:
        entry.twins.append(row.jid)
    if row.last_message_at and (entry.last_message_at is None or row.last_message_at > entry.last_message_at):
        entry.last_message_at = row.last_message_at
        entry.preview = clip(row.last_message_preview, PREVIEW_CHARS)


def page(entries: list[ChatEntry], limit: int, page: int = 0) -> list[ChatEntry]:
    """Page ``page`` (from 0) of ``limit`` entries; more follow when the page is full and
    ``len(entries) > (page + 1) * limit``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "limit must be a positive integer.",
                            details={"field": "limit"})
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "page must be 0 or more.", details={"field": "page"})
    return entries[page * limit:(page + 1) * limit]


# --- search_contacts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RelatedChat:
    """A chat involving a found contact: its direct chat, or a group where it has written."""

    jid: str
    kind: str
    name: str
    last_message_at: datetime | None


@dataclass
class ContactMatch:
    jid: str
    kind: str
    name: str
    phone: str | None  # digits, people only
    unread: int
    last_message_at: datetime | None
    preview: str  # at most 60 characters
    twins: list[str]
    chats: list[RelatedChat] = field(default_factory=list)  # only with include_chats and one match


def search_contacts(device: Device, query: str, *, include_chats: bool = False, limit: int = 20,
                    allowed: Whitelist | None = None) -> list[ContactMatch]:
    """Readable chats of the unified list (newest activity first) whose display name contains
    ``query`` (case-insensitive). Only a query holding a digit may also match by number: when its
    digits occur in the phone number, the JID's user part or a twin's. A query without digits never
    matches by JID, so nonsense finds nothing.

    With ``include_chats`` and exactly one match, that match lists up to 10 chats involving it.
    ``allowed`` defaults to the device's whitelist."""
    needle = _search_query(query)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"limit must be between 1 and {MAX_SEARCH_LIMIT}.",
                            details={"field": "limit"})
    directory = Directory(device)
    entries = unified_chats(device, allowed=allowed, directory=directory)
    digits = "".join(_DIGITS.findall(needle))
    found = [entry for entry in entries if _matches(entry, needle.casefold(), digits)]
    matches = [_as_match(entry) for entry in found[:limit]]
    if include_chats and len(found) == 1:
        matches[0].chats = _related_chats(device, found[0], entries)
    return matches


def _search_query(query: object) -> str:
    text = query.strip() if isinstance(query, str) else ""
    if not text:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "query is required.", details={"field": "query"})
    if len(text) > MAX_QUERY_CHARS:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"query is longer than {MAX_QUERY_CHARS} characters.",
                            details={"field": "query"})
    return text


def _matches(entry: ChatEntry, needle: str, digits: str) -> bool:
    # A chat nobody named shows its JID as its name; that is no name to match words against.
    if entry.is_named and needle in entry.name.casefold():
        return True
    if not digits:
        return False
    numbers = [entry.phone or "", _user(entry.jid), *(_user(twin) for twin in entry.twins)]
    return any(digits in number for number in numbers)


def _as_match(entry: ChatEntry) -> ContactMatch:
    return ContactMatch(jid=entry.jid, kind=entry.kind, name=entry.name, phone=entry.phone, unread=entry.unread,
                        last_message_at=entry.last_message_at, preview=entry.preview, twins=list(entry.twins))


def _related_chats(device: Device, match: ChatEntry, entries: list[ChatEntry]) -> list[RelatedChat]:
    """The match's own chat, then the (readable) groups where it has written, newest first."""
    related = [match]
    if not match.is_group:
        addresses = match.twins
        written = set(Message.objects.filter(device=device, chat__kind=ChatKind.GROUP).filter(
            Q(sender_jid__in=addresses) | Q(sender_phone_jid__in=addresses) | Q(sender_lid__in=addresses))
            .order_by().values_list("chat_id", flat=True).distinct())
        related += [entry for entry in entries if entry.is_group and written.intersection(entry.chat_ids)]
    return [RelatedChat(jid=e.jid, kind=e.kind, name=e.name, last_message_at=e.last_message_at)
            for e in related[:MAX_RELATED_CHATS]]
