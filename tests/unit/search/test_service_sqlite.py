"""search_messages and context_of through the real service on SQLite (FTS5): scope, order, paging,
every write path keeping the index in step (ingest, edits, updates, bulk inserts, outbound, purge),
the fallback when the index is broken and its repair."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils import timezone

from tests.factories import make_chat, make_contact, make_device, make_inbound, make_message
from whatsapp.engine.base import MessageEdited, MessageRevoked
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import DeliveryStatus, Direction, Message
from whatsapp.search import index
from whatsapp.search.compile import FTS_TABLE
from whatsapp.search.service import SearchPage, allowed_chats, context_of, search_messages
from whatsapp.services.ingest import ingest_edit, ingest_message, ingest_revoke, record_outbound
from whatsapp.services.retention import purge_expired

pytestmark = pytest.mark.django_db

ALICE = "15145550101@s.whatsapp.net"
ALICE_LID = "77000111@lid"
BOB = "15145550202@s.whatsapp.net"
T0 = timezone.now() - timedelta(days=1)


@pytest.fixture
def device():
    return make_device()


def say(device, chat, body: str, minutes: float = 0, **fields) -> Message:
    return make_message(device, chat, body=body, timestamp=T0 + timedelta(minutes=minutes), **fields)


def bodies(page: SearchPage) -> list[str]:
    return [message.body for message in page.hits]


def fts_rows(word: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [f'"{word}"'])
        return [row[0] for row in cursor.fetchall()]


def integrity_check() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)")


# --- the syntax, end to end ----------------------------------------------------------------------

@pytest.fixture
def corpus(device):
    chat = make_chat(device, ALICE)
    texts = [
        "The project deadline is Friday",
        "deadline moved; project on hold",
        "Send me an e-mail about it",
        "email me when it's done",
        "C++ or Rust?",
        "Café au lait, déjà vu",
        "meeting on friday?",
        "東京で会いましょう",
        "nothing to see",
    ]
    return [say(device, chat, text, minutes=i) for i, text in enumerate(texts)]


@pytest.mark.parametrize(("query", "expected"), [
    ("deadline project", ["deadline moved; project on hold", "The project deadline is Friday"]),
    ('"project deadline"', ["The project deadline is Friday"]),
    ("deadline AND project", ["deadline moved; project on hold", "The project deadline is Friday"]),
    ("deadline OR meeting", ["meeting on friday?", "deadline moved; project on hold",
                             "The project deadline is Friday"]),
    ("deadline NOT friday", ["deadline moved; project on hold"]),
    ("deadl*", ["deadline moved; project on hold", "The project deadline is Friday"]),
    ("e-mail", ["Send me an e-mail about it"]),
    ("email", ["email me when it's done"]),
    ("it's", ["email me when it's done"]),
    ("C++", ["C++ or Rust?"]),
    ("Friday?", ["meeting on friday?", "The project deadline is Friday"]),
    ("cafe DEJA", ["Café au lait, déjà vu"]),
    ("東京", ["東京で会いましょう"]),
    ('"京東"', []),
    ("or", ["C++ or Rust?"]),
    ("NOT friday NOT deadline NOT e*", ["nothing to see", "東京で会いましょう", "Café au lait, déjà vu",
                                         "C++ or Rust?"]),
    ("???", []),
    ('"', []),
    ("*", []),
    ("'; DROP TABLE whatsapp_message; --", []),
    ("col:term NEAR(a b) ^x -y", []),
    ("AND OR NOT", []),
])
def test_syntax_end_to_end(device, corpus, query: str, expected: list[str]) -> None:
    page = search_messages(device, query)
    assert bodies(page) == expected
    assert (page.total, page.has_more, page.degraded) == (len(expected), False, False)


def test_hostile_queries_never_reach_the_fallback(device, corpus, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="whatsapp.search")
    for query in ["'", ":", "&", "|", "!", "(", ")", "-", "^", "NEAR", "col:term", '"a', "a AND", "NOT",
                  '") OR 1=1 --', "\\", "%", "_", "x:*", "foo''bar", "{}", "[a]"]:
        search_messages(device, query)
    assert "SEARCH_FTS_UNAVAILABLE" not in caplog.text


def test_query_errors(device) -> None:
    for query, code in [("", ErrorCode.VALIDATION_ERROR), ("  ", ErrorCode.VALIDATION_ERROR),
                        ("x" * 201, ErrorCode.SEARCH_QUERY_TOO_LONG)]:
        with pytest.raises(WhatsAppError) as caught:
            search_messages(device, query)
        assert caught.value.code is code
    for field, kwargs in [("limit", {"limit": 0}), ("limit", {"limit": 101}), ("offset", {"offset": -1}),
                          ("limit", {"limit": True})]:
        with pytest.raises(WhatsAppError) as caught:
            search_messages(device, "x", **kwargs)
        assert (caught.value.code, caught.value.details["field"]) == (ErrorCode.VALIDATION_ERROR, field)


# --- scope, order, paging --------------------------------------------------------------------------

def test_newest_first_ties_by_arrival_and_paging(device) -> None:
    chat = make_chat(device, ALICE)
    same = [say(device, chat, f"tie {i}", minutes=5) for i in range(3)]
    older = say(device, chat, "tie old", minutes=1)
    newer = say(device, chat, "tie new", minutes=9)
    expected = [newer, *same[::-1], older]
    page = search_messages(device, "tie", limit=2)
    assert (page.hits, page.total, page.has_more) == (expected[:2], 5, True)
    page = search_messages(device, "tie", limit=2, offset=2)
    assert (page.hits, page.total, page.has_more) == (expected[2:4], 5, True)
    page = search_messages(device, "tie", limit=2, offset=4)
    assert (page.hits, page.total, page.has_more) == (expected[4:], 5, False)
    page = search_messages(device, "tie", limit=2, offset=10)
    assert (page.hits, page.total, page.has_more) == ([], 5, False)


def test_scope_is_the_device_the_chats_and_the_whitelist_before_paging(device, settings) -> None:
    alice, alice_lid, bob = make_chat(device, ALICE), make_chat(device, ALICE_LID), make_chat(device, BOB)
    other_device = make_device()
    say(other_device, make_chat(other_device, ALICE), "hello elsewhere")
    a1 = say(device, alice, "hello from alice", 1)
    a2 = say(device, alice_lid, "hello from alice's lid", 2)
    b1 = say(device, bob, "hello from bob", 3)
    assert search_messages(device, "hello").hits == [b1, a2, a1]
    assert search_messages(device, "hello", chat_jids=[ALICE, ALICE_LID]).hits == [a2, a1]
    assert search_messages(device, "hello", chat_jids=[]).hits == []
    assert search_messages(device, "hello", allowed_chat_ids=[alice.pk]).hits == [a1]

    settings.ALLOWED_CONTACTS = "15145550101"
    make_contact(device, phone_jid=ALICE, lid=ALICE_LID)
    page = search_messages(device, "hello", allowed_chat_ids=allowed_chats(device), limit=1)
    assert (page.hits, page.total, page.has_more) == ([a2], 2, True)
    settings.ALLOWED_CONTACTS = ""
    assert allowed_chats(device) is None


def test_captions_are_searchable_and_media_without_text_never_matches(device) -> None:
    chat = make_chat(device, ALICE)
    photo = say(device, chat, "Sunset at the beach", type="image", media_file_name="IMG_1.jpg")
    say(device, chat, "", type="image", media_file_name="beach.jpg")
    plain = say(device, chat, "plain words", 1)
    assert search_messages(device, "beach").hits == [photo]
    assert search_messages(device, "NOT beach").hits == [plain]


def test_revoked_messages_are_not_hits(device) -> None:
    chat = make_chat(device, ALICE)
    message = say(device, chat, "regrettable words", sender_jid=ALICE)
    ingest_revoke(device, MessageRevoked(chat_jid=ALICE, sender_jid=ALICE, target_wa_id=message.wa_id,
                                         timestamp=timezone.now()))
    assert search_messages(device, "regrettable").hits == []


# --- every write path keeps the index in step -------------------------------------------------------

def test_ingested_messages_are_found(device) -> None:
    stored = ingest_message(device, make_inbound(ALICE, text="Meet at the Bahnhof", timestamp=T0))
    assert search_messages(device, "bahnhof").hits == [stored]
    assert fts_rows("bahnhof") == [stored.pk]


def test_edits_reindex(device) -> None:
    chat = make_chat(device, ALICE)
    message = say(device, chat, "original wording", sender_jid=ALICE)
    ingest_edit(device, MessageEdited(chat_jid=ALICE, sender_jid=ALICE, target_wa_id=message.wa_id,
                                      text="corrected phrasing", timestamp=timezone.now()))
    assert search_messages(device, "original").hits == []
    assert search_messages(device, "corrected").hits == [message]
    assert fts_rows("original") == []
    integrity_check()


def test_an_update_of_the_body_alone_marks_the_row_pending_and_search_indexes_it(device) -> None:
    chat = make_chat(device, ALICE)
    message = say(device, chat, "before")
    Message.objects.filter(pk=message.pk).update(body="after the update")
    message.refresh_from_db()
    assert message.search_text is None
    assert fts_rows("before") == []  # the stale text left the index at once
    assert search_messages(device, "after").hits == [message]
    message.refresh_from_db()
    assert message.search_text == "after the update"
    integrity_check()


def test_save_and_bulk_paths(device) -> None:
    chat = make_chat(device, ALICE)
    message = say(device, chat, "first")
    message.body = "second"
    message.save()
    assert search_messages(device, "second").hits == [message]
    message.body = "third"
    message.save(update_fields=["body"])  # search_text not among the fields: pending, then indexed
    assert search_messages(device, "third").hits == [message]
    assert search_messages(device, "second").hits == []
    made = Message.objects.bulk_create([
        Message(device=device, chat=chat, wa_id=f"BULK{i}", direction=Direction.INBOUND, body=f"bulk number {i}",
                timestamp=T0 + timedelta(minutes=i))
        for i in range(3)])
    assert {m.search_text for m in made} == {"bulk number 0", "bulk number 1", "bulk number 2"}
    assert [m.body for m in search_messages(device, "bulk").hits] == ["bulk number 2", "bulk number 1",
                                                                      "bulk number 0"]
    Message.objects.bulk_update([Message(pk=made[0].pk, body="renamed")], ["body"])
    assert bodies(search_messages(device, "renamed")) == ["renamed"]
    integrity_check()


def test_outbound_messages_are_found(device) -> None:
    chat = make_chat(device, BOB)
    message = make_message(device, chat, direction=Direction.OUTBOUND, from_me=True, status=DeliveryStatus.QUEUED,
                           body="Invoice attached")
    record_outbound(device, message, status=DeliveryStatus.SENT, timestamp=timezone.now())
    assert search_messages(device, "invoice").hits == [message]


def test_purge_leaves_no_trace_in_the_index(device, settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    settings.MESSAGE_RETENTION_DAYS = 90
    chat = make_chat(device, ALICE)
    old = make_message(device, chat, body="ancient secret", timestamp=timezone.now() - timedelta(days=100))
    recent = make_message(device, chat, body="recent secret", timestamp=timezone.now() - timedelta(days=1))
    assert fts_rows("ancient") == [old.pk]

    purge_expired()
    assert search_messages(device, "ancient").hits == []
    assert search_messages(device, "secret").hits == [recent]
    assert fts_rows("ancient") == []
    assert fts_rows("secret") == [recent.pk]
    integrity_check()
    # ids are never reused, so a later message cannot inherit an index entry
    later = make_message(device, chat, body="brand new")
    assert later.pk > old.pk
    assert search_messages(device, "ancient").hits == []


def test_deleting_a_device_cleans_its_index_rows(device) -> None:
    say(device, make_chat(device, ALICE), "doomed words")
    device.delete()
    assert fts_rows("doomed") == []
    integrity_check()


# --- failure, fallback and repair --------------------------------------------------------------------

def _drop_fts() -> None:
    with connection.cursor() as cursor:
        for name in index.SQLITE_TRIGGERS:
            if name != "whatsapp_message_search_stale":
                cursor.execute(f"DROP TRIGGER {name}")
        cursor.execute(f"DROP TABLE {FTS_TABLE}")


def test_a_missing_index_falls_back_to_the_same_answers_and_is_rebuilt_at_start(
        device, corpus, caplog, settings, tmp_path) -> None:
    settings.DATA_DIR = tmp_path
    queries = ["deadline project", '"project deadline"', "deadline NOT friday", "deadl*", "e-mail", "NOT e*",
               "東京", "cafe OR rust"]
    before = {query: search_messages(device, query) for query in queries}
    _drop_fts()
    caplog.set_level(logging.WARNING, logger="whatsapp.search")
    for query in queries:
        page = search_messages(device, query)
        assert (page.hits, page.total, page.degraded) == (before[query].hits, before[query].total, True)
    assert "SEARCH_FTS_UNAVAILABLE" in caplog.text
    assert (tmp_path / index.REBUILD_FLAG).exists()

    report = index.ensure_index()
    assert report.rebuilt
    assert not (tmp_path / index.REBUILD_FLAG).exists()
    assert search_messages(device, "deadl*").degraded is False
    added = say(device, corpus[0].chat, "deadline after repair", minutes=99)
    assert search_messages(device, "deadl*").hits[0] == added
    integrity_check()


def test_a_corrupt_index_is_detected_and_rebuilt(device, corpus, settings, tmp_path) -> None:
    settings.DATA_DIR = tmp_path
    with connection.cursor() as cursor:  # out of step: the index no longer matches the rows
        cursor.execute("DROP TRIGGER whatsapp_message_search_au")
        cursor.execute("UPDATE whatsapp_message SET search_text = 'tampered' WHERE id = %s", [corpus[0].pk])
        cursor.execute("CREATE TRIGGER whatsapp_message_search_au AFTER UPDATE OF id, search_text ON "
                       "whatsapp_message BEGIN SELECT 1; END")
    assert index.ensure_index().rebuilt is False  # the cheap start check sees the structures in place
    report = index.ensure_index(verify=True)
    assert report.rebuilt
    assert report.problems
    assert search_messages(device, '"project deadline"').hits == [corpus[0]]
    integrity_check()


def test_ensure_index_restores_what_a_table_remake_drops(device, corpus, settings, tmp_path) -> None:
    """Django remakes a SQLite table for some schema changes, dropping its triggers."""
    settings.DATA_DIR = tmp_path
    with connection.cursor() as cursor:
        for name in index.SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
        cursor.execute(f"DROP INDEX {index.PENDING_INDEX}")
    report = index.ensure_index()
    assert report.rebuilt
    assert sorted(report.problems) == sorted(f"missing {name}" for name in [index.PENDING_INDEX,
                                                                            *index.SQLITE_TRIGGERS])
    Message.objects.filter(pk=corpus[-1].pk).update(body="changed after repair")
    assert search_messages(device, "repair").hits == [corpus[-1]]
    assert index.ensure_index(verify=True).problems == []


def test_a_locked_database_leaves_pending_rows_matched_in_python(device, monkeypatch) -> None:
    chat = make_chat(device, ALICE)
    message = say(device, chat, "old text")
    Message.objects.filter(pk=message.pk).update(body="fresh text")

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(index, "fill_pending", locked)
    assert search_messages(device, '"fresh text"').hits == [message]
    assert search_messages(device, "old").hits == []


def test_the_rebuild_command(device, corpus, settings, tmp_path) -> None:
    settings.DATA_DIR = tmp_path
    Message.objects.filter(pk=corpus[0].pk).update(search_text="stale")
    out = io.StringIO()
    call_command("rebuild_search_index", "--check", stdout=out)
    assert "rebuilt" in out.getvalue()
    out = io.StringIO()
    call_command("rebuild_search_index", stdout=out)
    assert "0 message(s) re-tokenised" in out.getvalue()
    assert search_messages(device, '"project deadline"').hits == [corpus[0]]
    integrity_check()


# --- context -----------------------------------------------------------------------------------------

def test_context_of_a_hit_spans_the_chat_and_its_twins(device) -> None:
    contact = make_contact(device, phone_jid=ALICE, lid=ALICE_LID)
    alice = make_chat(device, ALICE, contact=contact)
    alice_lid = make_chat(device, ALICE_LID, contact=contact)
    bob = make_chat(device, BOB)
    m1 = say(device, alice, "one", 1)
    say(device, bob, "elsewhere", 2)
    m2 = say(device, alice_lid, "two", 3)
    hit = say(device, alice, "the hit", 4)
    m3 = say(device, alice, "three", 4)  # same time, arrived later
    m4 = say(device, alice_lid, "four", 5)
    assert context_of(hit) == ([m2], [m3])
    assert context_of(hit, before=2, after=5) == ([m1, m2], [m3, m4])
    assert context_of(hit, before=0, after=0) == ([], [])
    assert context_of(m1, before=3, after=1) == ([], [m2])
    with pytest.raises(WhatsAppError) as caught:
        context_of(hit, before=11)
    assert caught.value.details["field"] == "before"
