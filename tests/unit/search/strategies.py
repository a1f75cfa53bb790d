"""Hypothesis strategies and the reference answer for the search parity properties, shared by the
SQLite (unit) and PostgreSQL (integration) tests."""

from __future__ import annotations

import os
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.factories import make_chat, make_message
from whatsapp.models import Device, Message
from whatsapp.search.evaluate import matches
from whatsapp.search.parser import MAX_QUERY_CHARS, parse
from whatsapp.search.service import search_messages
from whatsapp.search.tokenizer import index_tokens

# Few distinct words, so random queries hit often: accents, case, punctuation, prefixes of each
# other, operator words, ideographs.
WORDS = ["deadline", "Deadline", "DEADLINE", "dead", "line", "project", "projector", "proj", "e-mail", "email",
         "mail", "e", "it's", "its", "Friday?", "friday", "Café", "cafe", "déjà", "vu", "C++", "c", "and", "or",
         "not", "AND", "OR", "NOT", "東京", "京", "Straße", "strasse", "ﬁle", "file", "x", "ha"]
SEPARATORS = [" ", " ", " ", ", ", "-", "\n", "... ", "!", "'", ":"]

body = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=12).map(
    lambda parts: "".join(word + separator for word, separator in parts))

_query_atom = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda word: word[: max(1, len(word) // 2)] + "*"),
    st.sampled_from(["AND", "OR", "NOT", "AND", "OR", "NOT"]),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(lambda words: '"' + " ".join(words) + '"'),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(lambda words: '"' + " ".join(words) + '"*'),
    st.sampled_from(['"', "(", ")", "*", "???", "'", ":", "&", "|", "!", "-", "^", "NEAR", "col:x", "%", "_", "\\"]),
)
structured_query = st.lists(st.tuples(_query_atom, st.sampled_from([" ", " ", " ", ""])), min_size=1,
                            max_size=4).map(lambda parts: "".join(atom + gap for atom, gap in parts))
# Leading negations and OR NOT: the shapes FTS5 cannot say in one MATCH.
negated_query = st.tuples(st.sampled_from(["NOT ", "NOT ", "proj* OR NOT ", "NOT x NOT ", "(NOT "]),
                          st.sampled_from(WORDS)).map("".join)
any_query = st.one_of(structured_query, structured_query, negated_query, st.text(min_size=1, max_size=40))
query = any_query.filter(lambda text: bool(text.strip()) and len(text) <= MAX_QUERY_CHARS)

# SEARCH_PARITY_EXAMPLES=2000 for a longer hunt.
parity_settings = settings(max_examples=int(os.environ.get("SEARCH_PARITY_EXAMPLES", "120")), deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def reference(text: str, messages: list[Message]) -> list[int]:
    """The hits of ``text`` by the pure-Python evaluation: ids, newest first, ties by id."""
    node = parse(text)
    hits = [m for m in messages if m.revoked_at is None and matches(node, index_tokens(m.body))]
    return [m.pk for m in sorted(hits, key=lambda m: (m.timestamp, m.pk), reverse=True)]


def searched(device: Device, text: str, page_size: int = 7) -> tuple[list[int], int | None]:
    """Every hit of ``text`` through the service, page by page, and the total it reports."""
    ids: list[int] = []
    offset = 0
    while True:
        page = search_messages(device, text, limit=page_size, offset=offset)
        ids += [m.pk for m in page.hits]
        if not page.has_more:
            return ids, page.total
        offset += page_size


def check_parity(device: Device, bodies: list[str], queries: list[str], *, edited: int = 0,
                 revoked: int = 0) -> None:
    """Store ``bodies`` (some at equal times), edit the first ``edited`` through ``update()`` (so they
    are pending until search indexes them) and revoke ``revoked``; each query must return exactly the
    reference hits. Everything is rolled back afterwards."""
    with transaction.atomic():
        chat = make_chat(device, "15145550101@s.whatsapp.net")
        start = timezone.now() - timedelta(hours=1)
        messages = [make_message(device, chat, body=text, timestamp=start + timedelta(seconds=i // 2))
                    for i, text in enumerate(bodies)]
        for message in messages[:edited]:
            message.body = message.body[::-1]
            Message.objects.filter(pk=message.pk).update(body=message.body)
        for message in messages[edited:edited + revoked]:
            message.revoked_at = timezone.now()
            Message.objects.filter(pk=message.pk).update(revoked_at=message.revoked_at)
        for text in queries:
            expected = reference(text, messages)
            ids, total = searched(device, text)
            assert ids == expected, (text, parse(text))
            assert total == len(expected)
        transaction.set_rollback(True)
