"""Searching a device's messages (SPEC §8, reference/mcp-tools.md §2.6) and reading a hit's context.

Hits are messages with text (a body or a media caption) that match the query, newest first (ties by
arrival order, the primary key), after the scope is applied in SQL — chats, whitelist — so pages are
always full. Revoked ("deleted for everyone") messages are never hits.

The query runs on the database's index (FTS5 or tsvector, :mod:`whatsapp.search.index`). When the
index fails (missing, corrupt), ``SEARCH_FTS_UNAVAILABLE`` is logged, a rebuild is requested for the
next start, and the same tree is answered by LIKE conditions over the stored index text — the same
answers, slower (:func:`whatsapp.search.compile.like_condition`); only if that fails too is
``SEARCH_FTS_UNAVAILABLE`` raised. Never a substring scan of the raw body.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections, router, transaction
from django.db.models import Q, QuerySet, TextField, Value
from django.db.models.functions import Concat

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, Device, Message
from whatsapp.search import index
from whatsapp.search.compile import PADDED, fts5_condition, like_condition, tsquery_condition
from whatsapp.search.evaluate import matches
from whatsapp.search.nodes import Node, Nothing
from whatsapp.search.parser import parse
from whatsapp.search.tokenizer import index_tokens
from whatsapp.services.policies import whitelist_for

__all__ = ["DEFAULT_LIMIT", "MAX_CONTEXT", "MAX_LIMIT", "SearchPage", "allowed_chats", "context_of",
           "search_messages"]

logger = logging.getLogger("whatsapp.search")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CONTEXT = 10
_HAS_TEXT = Q(search_text__gt="")


@dataclass(frozen=True)
class SearchPage:
    """One page of hits, newest first. ``total`` counts every hit in scope; ``degraded`` says the
    page came from the LIKE fallback because the index was unusable."""

    hits: list[Message]
    total: int | None
    has_more: bool
    degraded: bool = False


def allowed_chats(device: Device) -> QuerySet[Chat] | None:
    """The device's chats its whitelist allows, as a lazy queryset for ``allowed_chat_ids`` (the
    database applies it as a subquery); None when the whitelist allows everything."""
    whitelist = whitelist_for(device)
    if whitelist.allows_everything:
        return None
    return Chat.objects.filter(device=device).filter(whitelist.chat_filter(device)).values("pk")


def _check_range(value: object, field: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f"at least {low}"
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{field} must be an integer {bound}.",
                            details={"field": field})
    return value


def search_messages(device: Device, query: str, *, chat_jids: list[str] | None = None,
                    allowed_chat_ids: Iterable[int] | QuerySet | None = None,
                    limit: int = DEFAULT_LIMIT, offset: int = 0) -> SearchPage:
    """The hits of ``query`` among ``device``'s messages, newest first, ``limit`` from ``offset``.

    ``chat_jids``: only these chats (a chat and its twins; the caller resolves and checks them).
    ``allowed_chat_ids``: only these chats — the whitelist, e.g. :func:`allowed_chats` — applied in
    SQL before paging; a queryset stays a subquery. ``None`` for either means no restriction.
    Raises ``VALIDATION_ERROR`` (blank query, limit outside 1..100, negative offset),
    ``SEARCH_QUERY_TOO_LONG`` (over 200 characters) and, only when even the fallback fails,
    ``SEARCH_FTS_UNAVAILABLE``.
    """
    _check_range(limit, "limit", 1, MAX_LIMIT)
    _check_range(offset, "offset", 0)
    node = parse(query)
    if isinstance(node, Nothing):
        return SearchPage([], 0, False)
    scope = Message.objects.filter(device_id=device.pk, revoked_at__isnull=True)
    if chat_jids is not None:
        scope = scope.filter(chat__jid__in=list(chat_jids))
    if allowed_chat_ids is not None:
        scope = scope.filter(chat_id__in=allowed_chat_ids)
    pending = _index_pending(device, scope, node)
    alias = router.db_for_read(Message)
    vendor = connections[alias].vendor
    if vendor in ("sqlite", "postgresql"):
        condition = fts5_condition(node) if vendor == "sqlite" else tsquery_condition(node)
        try:
            with _guarded(alias):
                return _page(scope.filter((_HAS_TEXT & condition) | Q(pk__in=pending)), limit, offset)
        except DatabaseError:
            logger.exception("SEARCH_FTS_UNAVAILABLE: the %s search index failed; answering with LIKE and "
                             "rebuilding the index at the next start", vendor)
            index.request_rebuild()
    try:
        padded = scope.annotate(**{PADDED: Concat(Value(" "), "search_text", Value(" "), output_field=TextField())})
        page = _page(padded.filter((_HAS_TEXT & like_condition(node)) | Q(pk__in=pending)), limit, offset)
    except DatabaseError as exc:
        logger.exception("SEARCH_FTS_UNAVAILABLE: the LIKE fallback failed too")
        raise WhatsAppError(ErrorCode.SEARCH_FTS_UNAVAILABLE) from exc
    return SearchPage(page.hits, page.total, page.has_more, degraded=vendor in ("sqlite", "postgresql"))


def matching(device: Device, scope: QuerySet[Message], query: str) -> QuerySet[Message]:
    """``scope`` narrowed to the messages ``query`` matches, as a lazy queryset the caller orders and
    pages (the REST history's ``q``). Same syntax and index as :func:`search_messages`; raises its
    ``VALIDATION_ERROR`` and ``SEARCH_QUERY_TOO_LONG``."""
    node = parse(query)
    if isinstance(node, Nothing):
        return scope.none()
    pending = _index_pending(device, scope, node)
    vendor = connections[router.db_for_read(Message)].vendor
    if vendor == "sqlite":
        return scope.filter((_HAS_TEXT & fts5_condition(node)) | Q(pk__in=pending))
    if vendor == "postgresql":
        return scope.filter((_HAS_TEXT & tsquery_condition(node)) | Q(pk__in=pending))
    padded = scope.annotate(**{PADDED: Concat(Value(" "), "search_text", Value(" "), output_field=TextField())})
    return padded.filter((_HAS_TEXT & like_condition(node)) | Q(pk__in=pending))


def _index_pending(device: Device, scope: QuerySet[Message], node: Node) -> list[int]:
    """Index the device's messages not indexed yet (see :mod:`whatsapp.search.fields`); if that
    write fails (a locked database), match those in scope here instead. Returns the ids of pending
    messages that match (normally none are left pending)."""
    alias = router.db_for_write(Message)
    if not Message.objects.using(alias).filter(device_id=device.pk, search_text__isnull=True).exists():
        return []
    try:
        with _guarded(alias):
            index.fill_pending(device.pk, using=alias)
        return []
    except DatabaseError:
        logger.warning("search: could not index pending messages of device %s; matching them in Python",
                       device.pk, exc_info=True)
    rows = scope.filter(search_text__isnull=True).values_list("pk", "body")
    return [pk for pk, body in rows.iterator() if matches(node, index_tokens(body))]


def _guarded(alias: str) -> Any:
    """A savepoint where a failed statement would spoil the surrounding transaction (PostgreSQL, or
    any open transaction); none otherwise, since on SQLite a new transaction is ``BEGIN IMMEDIATE``,
    which would make every search queue for the write lock."""
    connection = connections[alias]
    if connection.vendor == "postgresql" or connection.in_atomic_block:
        return transaction.atomic(using=alias)
    return contextlib.nullcontext()


def _page(hits: QuerySet[Message], limit: int, offset: int) -> SearchPage:
    page = list(hits.select_related("chat", "media_file").order_by("-timestamp", "-pk")[offset:offset + limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    total = offset + len(page) if not has_more and (page or offset == 0) else hits.count()
    return SearchPage(page, total, has_more)


def context_of(message: Message, before: int = 1, after: int = 1) -> tuple[list[Message], list[Message]]:
    """Up to ``before`` messages just before ``message`` and ``after`` just after it, in its chat and
    the chat's twins, each list oldest first (by timestamp, then arrival order)."""
    _check_range(before, "before", 0, MAX_CONTEXT)
    _check_range(after, "after", 0, MAX_CONTEXT)
    neighbours = Message.objects.filter(chat__in=message.chat.with_twins()).select_related("chat", "media_file")
    stamp, pk = message.timestamp, message.pk
    older: list[Message] = []
    newer: list[Message] = []
    if before:
        older = list(neighbours.filter(Q(timestamp__lt=stamp) | Q(timestamp=stamp, pk__lt=pk))
                     .order_by("-timestamp", "-pk")[:before])[::-1]
    if after:
        newer = list(neighbours.filter(Q(timestamp__gt=stamp) | Q(timestamp=stamp, pk__gt=pk))
                     .order_by("timestamp", "pk")[:after])
    return older, newer
