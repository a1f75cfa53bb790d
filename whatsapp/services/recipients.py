"""The one resolver of chats and recipients (reference/mcp-tools.md §1.6).

Every parameter naming a chat or recipient (``to``, ``chat``, ``target``, ``group``) goes through
:func:`resolve`; parameters that take only a phone number or a JID use :func:`person_or_jid`.

1. Input containing ``@`` is a JID and must be well formed (server ``s.whatsapp.net``, ``lid`` or
   ``g.us``; ``…@c.us`` is refused). It is used directly, even with no local chat.
2. Input made of digits and phone punctuation is a phone number, validated by §1.12 and turned into
   ``<digits>@s.whatsapp.net``. It is never fuzzy-matched: a number one digit off a contact does
   not reach that contact, and numbers with no chat are reachable.
3. Anything else is a name, scored against the display names of the unified chat list; only a
   clear winner resolves, ties are ambiguous (the original picked the most recently active chat).
4. Group tools (``groups_only``) take an ``@g.us`` JID or a group name: local group chats first,
   then, with no local match, the live joined-groups list by exact (case-insensitive) name.

The whitelist is not applied here: callers check the resolved JID (``ensure_allowed``), so a
refusal names the target.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from whatsapp import jids
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, ChatKind, Device
from whatsapp.phones import normalize_phone
from whatsapp.services.directory import ChatEntry, Directory, unified_chats
from whatsapp.services.policies import Whitelist

MAX_CANDIDATES = 5
MIN_FUZZY_CHARS = 2
_PHONE_LIKE = re.compile(r"[0-9+ \-.()]+", re.ASCII)
_WORD_SEPARATORS = re.compile(r"[\s\-_]+")

LiveGroups = Callable[[], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Resolved:
    jid: str
    name: str  # display name
    twins: list[str]  # every address of the person, jid included; [jid] for groups
    kind: str  # "group", "direct" or "broadcast"
    how: str  # "jid", "phone" or "name"


def _validation(message: str, field: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, message, details={"field": field})


def _trimmed(text: object, field: str) -> str:
    value = text.strip() if isinstance(text, str) else ""
    if not value:
        raise _validation(f"{field} is required.", field)
    return value


def parse_jid(text: str, field: str = "to") -> str:
    """A well-formed JID (device suffix dropped), or ``VALIDATION_ERROR`` saying what is accepted."""
    try:
        return jids.normalize(text)
    except ValueError:
        pass
    server = text.rsplit("@", 1)[-1].strip().lower()
    hint = " (c.us is the old name of s.whatsapp.net)" if server == "c.us" else ""
    raise _validation(f"{text!r} is not a valid WhatsApp JID{hint}: use <digits>@s.whatsapp.net, <digits>@lid "
                      "or <id>@g.us.", field)


def is_phone_like(text: str) -> bool:
    """Digits and phone punctuation (``+``, spaces, ``-``, ``.``, ``(``, ``)``), at least one digit."""
    return bool(_PHONE_LIKE.fullmatch(text)) and any(ch.isascii() and ch.isdigit() for ch in text)


def person_or_jid(text: str, field: str = "to", *, people_only: bool = False) -> str:
    """The JID of a parameter that takes a JID or a phone number, never a name. ``people_only``
    refuses group JIDs."""
    value = _trimmed(text, field)
    jid = parse_jid(value, field) if "@" in value else jids.phone_jid(normalize_phone(value, field))
    if people_only and jids.is_group(jid):
        raise _validation(f"{jid} is a group, not a person.", field)
    return jid


def resolve(device: Device, text: str, *, field: str = "to", groups_only: bool = False,
            live_groups: LiveGroups | None = None) -> Resolved:
    """The chat or recipient ``text`` names (§1.6). ``groups_only`` (group tools) accepts group JIDs
    and group names only; ``live_groups`` returns the joined groups as ``(jid, name)`` pairs, asked
    only when no local group matches."""
    value = _trimmed(text, field)
    if "@" in value:
        jid = parse_jid(value, field)
        if groups_only and not jids.is_group(jid):
            raise _validation(f"{jid} is not a group JID (<id>@g.us).", field)
        return _known(device, jid, "jid")
    if not groups_only and is_phone_like(value):
        return _known(device, jids.phone_jid(normalize_phone(value, field)), "phone")
    return _by_name(device, value, field=field, groups_only=groups_only, live_groups=live_groups)


def _known(device: Device, jid: str, how: str) -> Resolved:
    directory = Directory(device, only=[jid])
    chat = directory.chat(jid)
    kind = chat.kind if chat is not None else Chat.kind_of(jid)
    twins = [jid] if kind == ChatKind.GROUP else directory.twins(jid)
    return Resolved(jid=jid, name=directory.name(jid), twins=twins, kind=str(kind), how=how)


# --- names --------------------------------------------------------------------------------------


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two strings, by code points."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _normal(text: str) -> str:
    return text.casefold().strip()


def match_score(query: str, name: str) -> int | None:
    """How well ``name`` matches ``query`` (lower is better), or None for no match (§1.6):
    0 equal, 1 prefix, 2 contains; queries under 2 characters stop there; 3+d for a whole-name
    edit distance d ≤ max(2, ⌊0.4·len⌋); 4+d for the closest word (split on whitespace, ``-``,
    ``_``) within d ≤ max(1, ⌊0.3·len⌋)."""
    q, n = _normal(query), _normal(name)
    if not q or not n:
        return None
    if n == q:
        return 0
    if n.startswith(q):
        return 1
    if q in n:
        return 2
    if len(q) < MIN_FUZZY_CHARS:
        return None
    whole = levenshtein(q, n)
    if whole <= max(2, math.floor(0.4 * len(q))):
        return 3 + whole
    limit = max(1, math.floor(0.3 * len(q)))
    words = [levenshtein(q, word) for word in _WORD_SEPARATORS.split(n) if word]
    closest = min(words, default=limit + 1)
    return 4 + closest if closest <= limit else None


@dataclass(frozen=True)
class _Candidate:
    score: int
    entry: ChatEntry

    @property
    def order(self) -> tuple[int, bool, float, str]:
        stamp: datetime | None = self.entry.last_message_at
        return (self.score, stamp is None, -stamp.timestamp() if stamp else 0.0, self.entry.jid)


def rank(query: str, entries: Iterable[ChatEntry]) -> list[tuple[int, ChatEntry]]:
    """The best 5 (score, entry) pairs, best first; ties broken by most recent activity. Chats
    whose display name is only their JID are not matched by name (JIDs are typed as JIDs)."""
    scored = [_Candidate(score, entry) for entry in entries
              if entry.is_named and (score := match_score(query, entry.name)) is not None]
    scored.sort(key=lambda candidate: candidate.order)
    return [(candidate.score, candidate.entry) for candidate in scored[:MAX_CANDIDATES]]


def _by_name(device: Device, query: str, *, field: str, groups_only: bool,
             live_groups: LiveGroups | None) -> Resolved:
    ranked = rank(query, unified_chats(device, groups_only=groups_only, allowed=Whitelist()))
    if not ranked and groups_only and live_groups is not None:
        return _live_group(query, live_groups(), field=field)
    if not ranked:
        raise _not_found(query, field, groups_only)
    if len(ranked) > 1 and ranked[0][0] >= ranked[1][0]:
        raise _ambiguous(query, field, [(entry.name, entry.jid) for _, entry in ranked])
    entry = ranked[0][1]
    return Resolved(jid=entry.jid, name=entry.name, twins=list(entry.twins), kind=entry.kind, how="name")


def _live_group(query: str, groups: Iterable[tuple[str, str]], *, field: str) -> Resolved:
    wanted = _normal(query)
    found = {jid: name for jid, name in groups if jids.is_group(jid or "") and _normal(name or "") == wanted}
    if not found:
        raise _not_found(query, field, True)
    if len(found) > 1:
        raise _ambiguous(query, field, [(name, jid) for jid, name in list(found.items())[:MAX_CANDIDATES]])
    (jid, name), = found.items()
    return Resolved(jid=jids.normalize(jid), name=name, twins=[jids.normalize(jid)], kind=str(ChatKind.GROUP),
                    how="name")


def _not_found(query: str, field: str, groups_only: bool) -> WhatsAppError:
    what = "group" if groups_only else "chat or contact"
    recovery = ("Use the group's JID (<id>@g.us); list_chats with groups_only or get_joined_groups lists them."
                if groups_only else
                "Use an exact JID or phone number (list_chats or search_contacts can find it).")
    return WhatsAppError(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, f"No {what} matches {query!r}.",
                         details={"field": field, "query": query}, recovery=recovery)


def _ambiguous(query: str, field: str, candidates: list[tuple[str, str]]) -> WhatsAppError:
    listed = "; ".join(f"{name} ({jid})" for name, jid in candidates)
    return WhatsAppError(ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT,
                         f"{query!r} matches several chats: {listed}. Retry with the exact JID of one of them.",
                         details={"field": field, "query": query}, candidates=candidates)
