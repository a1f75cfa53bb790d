"""Message search on PostgreSQL (tsvector + GIN): the same answers as the pure-Python reference
(the property the SQLite unit tests check for FTS5), the triggers covering every write path, and the
fallback and repair when the index is broken."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import make_chat, make_device, make_message
from tests.unit.search.strategies import body, check_parity, parity_settings, query
from tests.unit.search.test_migration import (
    test_existing_messages_are_indexed_by_the_migration as test_backfill_on_postgresql,  # noqa: F401 - collected here
)
from whatsapp.models import Message
from whatsapp.search import index, service
from whatsapp.search.service import search_messages
from whatsapp.search.tokenizer import MAX_OCCURRENCES
from whatsapp.services.retention import purge_expired

pytestmark = pytest.mark.django_db

ALICE = "15145550101@s.whatsapp.net"


@pytest.fixture
def device():
    return make_device()


def test_runs_on_postgresql() -> None:
    assert connection.vendor == "postgresql"


@parity_settings
@given(bodies=st.lists(body, min_size=1, max_size=14), queries=st.lists(query, min_size=1, max_size=4),
       edited=st.integers(0, 2), revoked=st.integers(0, 2))
def test_tsvector_answers_like_the_reference(device, caplog, bodies, queries, edited, revoked) -> None:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="whatsapp.search"):
        check_parity(device, bodies, queries, edited=edited, revoked=revoked)
    assert "SEARCH_FTS_UNAVAILABLE" not in caplog.text


def _broken_index(node):
    return Q(pk__in=RawSQL("SELECT id FROM whatsapp_message_search_missing", []))


@parity_settings
@given(bodies=st.lists(body, min_size=1, max_size=14), queries=st.lists(query, min_size=1, max_size=4))
def test_the_fallback_answers_like_the_reference(device, monkeypatch, settings, tmp_path, bodies, queries) -> None:
    settings.DATA_DIR = tmp_path
    with monkeypatch.context() as patch:
        patch.setattr(service, "tsquery_condition", _broken_index)
        check_parity(device, bodies, queries, edited=1)


def vector_of(message: Message) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_vector::text FROM whatsapp_message WHERE id = %s", [message.pk])
        return cursor.fetchone()[0]


def test_the_vector_holds_the_tokens_at_their_positions(device) -> None:
    message = make_message(device, body="It's the E-mail, the end")
    assert vector_of(message) == "'e':4 'end':7 'it':1 'mail':5 's':2 'the':3,6"


def test_phrases_line_up_past_the_position_limit_of_a_lexeme(device) -> None:
    words = ["ha"] * (MAX_OCCURRENCES + 5) + ["tail"]
    message = make_message(device, body=" ".join(words))
    assert search_messages(device, '"ha ha"').hits == [message]
    assert search_messages(device, '"ha tail"').hits == []  # its 261st "ha" is not indexed
    assert search_messages(device, "tail").hits == [message]


def test_triggers_cover_updates_edits_and_purges(device, settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    settings.MESSAGE_RETENTION_DAYS = 90
    chat = make_chat(device, ALICE)
    old = make_message(device, chat, body="ancient secret", timestamp=timezone.now() - timedelta(days=100))
    recent = make_message(device, chat, body="recent secret")
    Message.objects.filter(pk=recent.pk).update(body="recent rewritten secret")
    recent.refresh_from_db()
    assert recent.search_text is None
    assert vector_of(recent) is None
    assert search_messages(device, "rewritten").hits == [recent]
    assert vector_of(recent) == "'recent':1 'rewritten':2 'secret':3"

    purge_expired()
    assert search_messages(device, "ancient").hits == []
    assert search_messages(device, "secret").hits == [recent]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM whatsapp_message WHERE search_vector @@ 'ancient'::tsquery")
        assert cursor.fetchone()[0] == 0
    assert not Message.objects.filter(pk=old.pk).exists()


def test_a_broken_index_falls_back_and_is_repaired(device, caplog, settings, tmp_path) -> None:
    settings.DATA_DIR = tmp_path
    chat = make_chat(device, ALICE)
    hit = make_message(device, chat, body="the project deadline")
    make_message(device, chat, body="deadline only")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP TRIGGER {index.PG_TRIGGER} ON whatsapp_message")
        cursor.execute("ALTER TABLE whatsapp_message DROP COLUMN search_vector")
    caplog.set_level(logging.WARNING, logger="whatsapp.search")
    page = search_messages(device, '"project deadline"')
    assert (page.hits, page.degraded) == ([hit], True)
    assert "SEARCH_FTS_UNAVAILABLE" in caplog.text

    report = index.ensure_index()
    assert report.rebuilt
    assert "missing column search_vector" in report.problems
    page = search_messages(device, '"project deadline"')
    assert (page.hits, page.degraded) == ([hit], False)
    assert index.ensure_index(verify=True).problems == []


def test_verify_finds_vectors_out_of_date(device, settings, tmp_path) -> None:
    settings.DATA_DIR = tmp_path
    message = make_message(device, body="genuine words")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE whatsapp_message DISABLE TRIGGER whatsapp_message_search")
        cursor.execute("UPDATE whatsapp_message SET search_vector = 'forged'::tsvector WHERE id = %s", [message.pk])
        cursor.execute("ALTER TABLE whatsapp_message ENABLE TRIGGER whatsapp_message_search")
    assert search_messages(device, "forged").hits == [message]
    report = index.ensure_index(verify=True)
    assert report.rebuilt
    assert search_messages(device, "forged").hits == []
    assert search_messages(device, "genuine").hits == [message]
