"""The search index per database vendor: creating it, checking it, rebuilding it.

Both vendors index ``whatsapp_message.search_text`` (see :mod:`whatsapp.search.fields`), keyed by the
message's primary key, and keep it in sync with database triggers, so every write path (ORM saves,
bulk inserts, ``update()``, deletes by retention or cascade, raw SQL) is covered:

* **PostgreSQL**: a ``search_vector tsvector`` column (not a model field) that a ``BEFORE INSERT OR
  UPDATE`` trigger computes from ``search_text`` — word positions taken from the token order, lexemes
  exactly as stored (no parser, no dictionary) — with a GIN index. Deleting a row deletes its entry.
* **SQLite**: an FTS5 table with external content (``whatsapp_message``, ``rowid`` = message id, which
  ``AUTOINCREMENT`` never reuses) and the ``ascii`` tokenizer, whose only separator in our index text
  is the space; insert, update and delete triggers keep it in step.

On both, a trigger sets ``search_text`` to NULL when an update changes ``body`` without writing
``search_text`` (``QuerySet.update(body=…)``); :func:`fill_pending` indexes such rows, and search calls
it first. :func:`ensure_index` checks the structures at start and rebuilds what is missing or broken;
``manage.py rebuild_search_index`` rebuilds on demand. SQLite drops a table's triggers when Django
remakes the table (some later migrations of ``Message`` do), which is one more reason to run
:func:`ensure_index` at every start and after ``migrate``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from whatsapp.search.compile import FTS_TABLE, VECTOR_COLUMN
from whatsapp.search.tokenizer import FILLER, MAX_INDEX_TOKENS, index_text

__all__ = ["IndexReport", "ensure_index", "fill_pending", "install", "rebuild", "recompute", "request_rebuild"]

logger = logging.getLogger("whatsapp.search")

TABLE = "whatsapp_message"
BATCH = 500
PENDING_INDEX = "whatsapp_message_search_pending"
REBUILD_FLAG = "search-index.rebuild"

# --- SQLite ---------------------------------------------------------------------------------------

SQLITE_TRIGGERS = {
    # body changed but search_text not written: the index text is stale, mark it pending
    "whatsapp_message_search_stale": f"""
        CREATE TRIGGER whatsapp_message_search_stale AFTER UPDATE OF body ON {TABLE}
        WHEN new.body IS NOT old.body AND new.search_text IS old.search_text
        BEGIN
            UPDATE {TABLE} SET search_text = NULL WHERE id = new.id;
        END""",
    "whatsapp_message_search_ai": f"""
        CREATE TRIGGER whatsapp_message_search_ai AFTER INSERT ON {TABLE}
        BEGIN
            INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text);
        END""",
    "whatsapp_message_search_ad": f"""
        CREATE TRIGGER whatsapp_message_search_ad AFTER DELETE ON {TABLE}
        BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text);
        END""",
    "whatsapp_message_search_au": f"""
        CREATE TRIGGER whatsapp_message_search_au AFTER UPDATE OF id, search_text ON {TABLE}
        WHEN new.id IS NOT old.id OR new.search_text IS NOT old.search_text
        BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text);
            INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text);
        END""",
}
SQLITE_FTS = (f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(search_text, content='{TABLE}', "
              "content_rowid='id', tokenize='ascii')")
PENDING_INDEX_SQL = f"CREATE INDEX IF NOT EXISTS {PENDING_INDEX} ON {TABLE} (device_id) WHERE search_text IS NULL"

# --- PostgreSQL -----------------------------------------------------------------------------------

PG_VECTOR_FUNCTION = "whatsapp_search_vector"
PG_TRIGGER = "whatsapp_message_search"
PG_TRIGGER_FUNCTION = "whatsapp_message_search_sync"
PG_GIN_INDEX = "whatsapp_message_search_gin"
PG_INSTALL = [
    # ALTER TABLE refuses while deferred foreign-key checks of this transaction are pending
    "SET CONSTRAINTS ALL IMMEDIATE",
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {VECTOR_COLUMN} tsvector",
    # Tokens separated by single spaces → 'token':position, verbatim; FILLER keeps its position only.
    f"""CREATE OR REPLACE FUNCTION {PG_VECTOR_FUNCTION}(doc text) RETURNS tsvector
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
        SELECT coalesce(string_agg(
                   '''' || replace(replace(token, '\\', '\\\\'), '''', '''''') || ''':' || position, ' '),
               '')::tsvector
        FROM unnest(string_to_array(doc, ' ')) WITH ORDINALITY AS t(token, position)
        WHERE token <> '' AND token <> '{FILLER}' AND position <= {MAX_INDEX_TOKENS}
        $fn$""",
    f"""CREATE OR REPLACE FUNCTION {PG_TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF NEW.body IS DISTINCT FROM OLD.body AND NEW.search_text IS NOT DISTINCT FROM OLD.search_text THEN
                    NEW.search_text := NULL;  -- body changed without its index text: pending
                END IF;
                IF NEW.search_text IS NOT DISTINCT FROM OLD.search_text
                   AND NEW.{VECTOR_COLUMN} IS NOT DISTINCT FROM OLD.{VECTOR_COLUMN} THEN
                    RETURN NEW;
                END IF;
            END IF;
            NEW.{VECTOR_COLUMN} := {PG_VECTOR_FUNCTION}(NEW.search_text);
            RETURN NEW;
        END
        $fn$""",
    f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {TABLE}",
    f"""CREATE TRIGGER {PG_TRIGGER} BEFORE INSERT OR UPDATE OF body, search_text, {VECTOR_COLUMN} ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {PG_TRIGGER_FUNCTION}()""",
    PENDING_INDEX_SQL,
]
# Built after the rows are filled (one pass instead of an entry per UPDATE).
PG_GIN = f"CREATE INDEX IF NOT EXISTS {PG_GIN_INDEX} ON {TABLE} USING gin ({VECTOR_COLUMN})"
PG_UNINSTALL = [
    "SET CONSTRAINTS ALL IMMEDIATE",
    f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {TABLE}",
    f"DROP INDEX IF EXISTS {PG_GIN_INDEX}",
    f"DROP INDEX IF EXISTS {PENDING_INDEX}",
    f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {VECTOR_COLUMN}",
    f"DROP FUNCTION IF EXISTS {PG_TRIGGER_FUNCTION}()",
    f"DROP FUNCTION IF EXISTS {PG_VECTOR_FUNCTION}(text)",
]


@dataclass
class IndexReport:
    """What :func:`ensure_index` or :func:`rebuild` found and did."""

    vendor: str
    problems: list[str] = field(default_factory=list)
    rebuilt: bool = False
    recomputed: int = 0
    filled: int = 0


def _execute(cursor: Any, statements: list[str]) -> None:
    for statement in statements:
        cursor.execute(statement)


def _message_model() -> Any:
    from whatsapp.models import Message  # late: the migration imports this module

    return Message


# --- building -------------------------------------------------------------------------------------

def _sqlite_has_fts5(cursor: Any) -> bool:
    try:
        cursor.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')")
        if cursor.fetchone()[0]:
            return True
        cursor.execute("CREATE VIRTUAL TABLE temp.whatsapp_fts5_probe USING fts5(x)")
        cursor.execute("DROP TABLE temp.whatsapp_fts5_probe")
        return True
    except DatabaseError:
        return False


def _sqlite_drop(cursor: Any) -> None:
    for name in SQLITE_TRIGGERS:
        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


def _sqlite_create(cursor: Any) -> None:
    """The FTS table filled from ``search_text`` as it stands, then the triggers; in that order, so
    the triggers' deletes always name what the table holds."""
    cursor.execute(PENDING_INDEX_SQL)
    cursor.execute(SQLITE_TRIGGERS["whatsapp_message_search_stale"])
    if not _sqlite_has_fts5(cursor):
        logger.error("SEARCH_FTS_UNAVAILABLE: this SQLite has no FTS5; search runs on the slower LIKE fallback")
        return
    cursor.execute(SQLITE_FTS)
    cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    for name, sql in SQLITE_TRIGGERS.items():
        if name != "whatsapp_message_search_stale":
            cursor.execute(sql)


def install(connection: Any, model: Any = None) -> None:
    """Create the index structures over the rows as they are and fill every row's ``search_text``
    (the migration's step; ``model`` is its historical ``Message``)."""
    model = model or _message_model()
    using = connection.alias
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _execute(cursor, PG_INSTALL)
            recompute(model, using=using)
            cursor.execute(PG_GIN)
        elif connection.vendor == "sqlite":
            _sqlite_drop(cursor)
            recompute(model, using=using)
            _sqlite_create(cursor)
        else:
            logger.warning("search index: unsupported database vendor %s; search uses LIKE", connection.vendor)


def uninstall(connection: Any) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _execute(cursor, PG_UNINSTALL)
        elif connection.vendor == "sqlite":
            _sqlite_drop(cursor)
            cursor.execute(f"DROP INDEX IF EXISTS {PENDING_INDEX}")


def recompute(model: Any = None, *, using: str = DEFAULT_DB_ALIAS, batch: int = BATCH) -> int:
    """Rewrite ``search_text`` from ``body`` wherever it differs (after a tokenizer change, or to
    repair). Returns how many rows changed."""
    model = model or _message_model()
    rows_of = model._default_manager.using(using)
    last, changed = 0, 0
    while True:
        rows = list(rows_of.filter(pk__gt=last).order_by("pk").values_list("pk", "body", "search_text")[:batch])
        if not rows:
            return changed
        last = rows[-1][0]
        stale = [model(pk=pk, search_text=text) for pk, body, old in rows if (text := index_text(body)) != old]
        if stale:
            rows_of.bulk_update(stale, ["search_text"])
            changed += len(stale)


def fill_pending(device_id: Any = None, *, using: str = DEFAULT_DB_ALIAS) -> int:
    """Index the rows whose ``search_text`` is NULL (their body changed by a write that did not set
    it). Each row is written only if its body is still the one tokenised, so a concurrent edit is
    never overwritten with an older text. Returns how many rows were indexed."""
    messages = _message_model()._default_manager.using(using)
    pending = messages.filter(search_text__isnull=True)
    if device_id is not None:
        pending = pending.filter(device_id=device_id)
    last, filled = 0, 0
    while True:
        rows = list(pending.filter(pk__gt=last).order_by("pk").values_list("pk", "body")[:BATCH])
        if not rows:
            return filled
        last = rows[-1][0]
        for pk, body in rows:
            filled += messages.filter(pk=pk, search_text__isnull=True, body=body).update(search_text=index_text(body))


def rebuild(*, using: str = DEFAULT_DB_ALIAS) -> IndexReport:
    """Recreate the index from the messages: every ``search_text`` recomputed, the FTS table or the
    vector column, GIN index and triggers created anew."""
    connection = connections[using]
    report = IndexReport(connection.vendor, rebuilt=True)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _execute(cursor, PG_INSTALL)
            report.recomputed = recompute(using=using)
            cursor.execute(f"UPDATE {TABLE} SET {VECTOR_COLUMN} = {PG_VECTOR_FUNCTION}(search_text) "
                           f"WHERE {VECTOR_COLUMN} IS DISTINCT FROM {PG_VECTOR_FUNCTION}(search_text)")
            cursor.execute(f"DROP INDEX IF EXISTS {PG_GIN_INDEX}")
            cursor.execute(PG_GIN)
        elif connection.vendor == "sqlite":
            _sqlite_drop(cursor)
            report.recomputed = recompute(using=using)
            _sqlite_create(cursor)
    _flag_path().unlink(missing_ok=True)
    logger.info("search index rebuilt: %s", report)
    return report


# --- checking -------------------------------------------------------------------------------------

def _sqlite_problems(cursor: Any, verify: bool) -> list[str]:
    cursor.execute("SELECT name FROM sqlite_master")
    present = {name for (name,) in cursor.fetchall()}
    wanted = [PENDING_INDEX, "whatsapp_message_search_stale"]
    if _sqlite_has_fts5(cursor):
        wanted += [FTS_TABLE, *SQLITE_TRIGGERS]
    problems = [f"missing {name}" for name in dict.fromkeys(wanted) if name not in present]
    if not problems and FTS_TABLE in wanted:
        try:
            cursor.execute(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s LIMIT 1", ['"probe"'])
            cursor.fetchall()
            if verify:
                cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)")
        except DatabaseError as exc:
            problems.append(f"{FTS_TABLE} unusable: {exc}")
    return problems


def _pg_problems(cursor: Any, verify: bool) -> list[str]:
    checks = {
        f"column {VECTOR_COLUMN}": ("SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
                                    " AND table_name = %s AND column_name = %s", [TABLE, VECTOR_COLUMN]),
        f"function {PG_VECTOR_FUNCTION}": ("SELECT 1 FROM pg_proc WHERE proname = %s", [PG_VECTOR_FUNCTION]),
        f"trigger {PG_TRIGGER}": ("SELECT 1 FROM pg_trigger WHERE tgname = %s AND NOT tgisinternal "
                                  "AND tgenabled <> 'D'", [PG_TRIGGER]),
        f"index {PG_GIN_INDEX}": ("SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s",
                                  [PG_GIN_INDEX]),
        f"index {PENDING_INDEX}": ("SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s",
                                   [PENDING_INDEX]),
    }
    problems = []
    for name, (sql, params) in checks.items():
        cursor.execute(sql, params)
        if cursor.fetchone() is None:
            problems.append(f"missing {name}")
    if not problems:
        try:
            with transaction.atomic(using=cursor.db.alias):
                cursor.execute(f"SELECT id FROM {TABLE} WHERE {VECTOR_COLUMN} @@ %s::tsquery LIMIT 1", ["'probe'"])
                cursor.fetchall()
                if verify:
                    cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE {VECTOR_COLUMN} IS DISTINCT FROM "
                                   f"{PG_VECTOR_FUNCTION}(search_text)")
                    if cursor.fetchone()[0]:
                        problems.append(f"{VECTOR_COLUMN} out of date")
        except DatabaseError as exc:
            problems.append(f"search index unusable: {exc}")
    return problems


def ensure_index(*, verify: bool = False, using: str = DEFAULT_DB_ALIAS) -> IndexReport:
    """Check the index structures and rebuild when something is missing or unusable, or when search
    met a broken index since the last start (:func:`request_rebuild`); then index pending rows.
    ``verify`` also compares the whole index with the messages (slower: reads every row)."""
    connection = connections[using]
    report = IndexReport(connection.vendor)
    if connection.vendor not in ("postgresql", "sqlite"):
        return report
    if _flag_path().exists():
        report.problems.append("search met a broken index (rebuild requested)")
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            report.problems += _sqlite_problems(cursor, verify)
        else:
            report.problems += _pg_problems(cursor, verify)
    if verify:
        stale = _stale_texts(using)
        if stale:
            report.problems.append(f"{stale} message(s) with a search text that is not their body's")
    if report.problems:
        logger.warning("search index needs a rebuild: %s", "; ".join(report.problems))
        rebuilt = rebuild(using=using)
        report.rebuilt, report.recomputed = True, rebuilt.recomputed
    report.filled = fill_pending(using=using)
    return report


def _stale_texts(using: str) -> int:
    """How many messages hold a ``search_text`` other than their body's tokens (pending ones aside):
    written by hand, or by an older tokenizer."""
    rows_of = _message_model()._default_manager.using(using).filter(search_text__isnull=False)
    last, stale = 0, 0
    while True:
        rows = list(rows_of.filter(pk__gt=last).order_by("pk").values_list("pk", "body", "search_text")[:BATCH])
        if not rows:
            return stale
        last = rows[-1][0]
        stale += sum(index_text(body) != text for _, body, text in rows)


def _flag_path() -> Path:
    return Path(settings.DATA_DIR) / REBUILD_FLAG


def request_rebuild() -> None:
    """Ask the next :func:`ensure_index` to rebuild (search found the index broken)."""
    try:
        _flag_path().touch()
    except OSError:
        logger.warning("could not write %s", _flag_path())
