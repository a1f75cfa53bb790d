"""Message store benchmark (issue 9): history-sync ingest rate, live ingest latency and search latency
over a large store, on PostgreSQL (and SQLite for reference).

    .venv/bin/python bench/store.py                          # PG 1,000,000 messages, SQLite 200,000
    .venv/bin/python bench/store.py --messages 200000 --skip-sqlite --queries 100

For each database it builds a fresh one (PostgreSQL: a new database on ``--postgres``, dropped
afterwards; SQLite: a file in a temporary directory, with the gateway's own pragmas), migrates it, and
runs the figures in a child process of its own (Django is configured once per process):

* **load** (not a figure, only timed): one device and its chats (direct chats by phone JID, a third
  of them with a LID twin, LID-only chats, groups of 3 to 60 members, some addressed by LID) made through
  ``ingest.chat_for`` and ``ingest.link_identity``; then the bulk of the corpus (``--messages`` minus
  the measured messages below) written fast: each row's values are the model's own (``pre_save`` and
  ``get_db_prep_save`` of every field, as ``bulk_create`` does, so ``search_text`` is exactly what every
  save writes), sent with COPY (PostgreSQL) or ``executemany`` (SQLite), and indexed by the database's
  own triggers (tsvector + GIN, or FTS5). What the real path adds per message (chat preview, device
  event) is skipped there. PostgreSQL then gets ``VACUUM ANALYZE`` (what autovacuum would do); SQLite
  gets nothing (the gateway never runs ANALYZE). The index is then checked: structures present, and a
  random sample of rows with the ``search_text`` and index entry the real path writes.
* **history**: ``--history`` messages through ``ingest_history`` (the runner's path for a history-sync
  batch) in batches of ``--batch``: messages/s, indexing included, and SQL statements per message.
* **live**: ``--live`` messages through ``ingest_message``, one at a time, as the runner stores a live
  message (its own transaction): p50/p95/p99/max after 50 warm-up messages.
* **diagnostic** (PostgreSQL, unless ``--no-diagnostics``): a smaller history and live pass with
  ``synchronous_commit=off`` on the session, to show how much of the time is the WAL flush at commit.
  Not a figure: the server's settings are what the figures use.
* **search**: ``--queries`` queries of each kind through ``search_messages(device, q, limit=20)``
  (newest first) over everything stored: **keyword** (one word, drawn equally from four frequency
  bands of the vocabulary: ranks 0-49, 50-499, 500-4,999, rarer), **phrase** (two or three consecutive
  tokens of a stored message, quoted) and **prefix** (``wor*``: 3 to 6 characters of a word from the
  same four bands). p50/p95/p99/max per kind, then by band and by number of hits, with the SQL time
  per statement (pending-index check, page, count) and the slowest queries.

The corpus is deterministic (``--seed``): a vocabulary of common English chat words followed by
generated words (some accented), drawn with a Zipf-Mandelbrot distribution; 60 % of messages have 1-8
words, 32 % 9-30, 8 % 31-150; 25 % are sent from the own phone, 4 % are images (most with a caption).
The machine's other work is measured too (cores used by the machine, this process, its database
backend and everything else, per phase): on a shared 2-core machine it moves every figure. Prints one
human line per figure and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULT_PREFIX = "STORE-BENCH-RESULT "
TARGETS = {"history_msgs_per_s": 10_000, "live_p99_ms": 5.0, "search_p95_ms": 30.0}
KINDS = ("keyword", "phrase", "prefix")
# Frequency bands of the vocabulary, by rank (0 = most frequent).
BANDS = {"top50": (0, 50), "50-500": (50, 500), "500-5k": (500, 5_000), "rare": (5_000, None)}
HIT_BUCKETS = ((0, "0-99"), (100, "100-9,999"), (10_000, "10,000-99,999"), (100_000, ">=100,000"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000, help="Messages stored on PostgreSQL in all.")
    parser.add_argument("--sqlite-messages", type=int, default=200_000, help="Messages stored on SQLite in all.")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--queries", type=int, default=200, help="Measured search queries of each kind.")
    parser.add_argument("--history", type=int, default=5_000, help="Messages measured through ingest_history.")
    parser.add_argument("--batch", type=int, default=500, help="Messages per history-sync batch.")
    parser.add_argument("--live", type=int, default=2_000, help="Messages measured through ingest_message.")
    parser.add_argument("--load-batch", type=int, default=5_000, help="Rows per COPY / executemany of the load.")
    parser.add_argument("--no-diagnostics", action="store_true",
                        help="Skip the PostgreSQL pass with synchronous_commit=off (where the commit wait goes).")
    parser.add_argument("--keep-database", action="store_true",
                        help="Leave the PostgreSQL database in place (its URL is printed), to inspect plans.")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--backend", choices=("postgres", "sqlite"), help=argparse.SUPPRESS)  # the child's
    return parser.parse_args()


# --- the corpus --------------------------------------------------------------------------------------

_COMMON_WORDS = """the i you to a and it is in of that for me my on be have this we so just do with not what
are at but can was if your get all no will up like ok out about know now go one how there when time
don't good am yeah they see think he send today tomorrow call back need want did has been come please
right going thanks let lol from here then still would meeting really she them work got new sure an
home tonight morning our us too well some yes more make why maybe later day week by could or sorry
should where who also after night love free said take any much soon over next let's bring check
pick leave done great thank hey hi nice thing before dinner lunch money pay car house office people
phone message order price photo video file link address party weekend monday friday saturday sunday
already again help ready late early minutes hours school kids mom dad guys everyone family birthday
happy coffee beer food train bus flight hotel trip invoice delivery project deadline report client"""
COMMON = _COMMON_WORDS.split()
_SYLLABLES = ("ka lo mi ra ten vos pel dri su ne tor ba chi gan fel wi mo ste lu qua zen ro ny da pha ki "
              "ser vel ul or an em is tra bo cu del fa gri ho jo lem mar nor pi sil tu ver xa yo zu")
SYLLABLES = _SYLLABLES.split()
ACCENTS = {"e": "é", "a": "à", "o": "ö", "u": "ü", "i": "í", "n": "ñ"}


class Corpus:
    """A deterministic stream of realistic chat messages (``InboundMessage``) for one device."""

    def __init__(self, seed: int, vocabulary: int = 40_000) -> None:
        self.rng = random.Random(seed)
        words = list(dict.fromkeys(COMMON))
        seen = set(words)
        while len(words) < vocabulary:
            word = "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.choice((2, 2, 3, 3, 3, 4))))
            if self.rng.random() < 0.03:
                i = self.rng.randrange(len(word))
                word = word[:i] + ACCENTS.get(word[i], word[i]) + word[i + 1:]
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        weights = [1.0 / (rank + 2.7) for rank in range(len(words))]  # Zipf-Mandelbrot
        self.cumulative = list(_accumulate(weights))
        self.chats = self._chats()
        self.chat_weights = list(_accumulate(1.0 / (i + 1) ** 0.8 for i in range(len(self.chats))))
        self.own = "15550009999@s.whatsapp.net"
        self.sample: list[str] = []  # bodies kept for phrase queries (a reservoir)
        self.produced = 0

    def _chats(self) -> list[dict[str, Any]]:
        """Direct chats (by phone, some senders with a LID twin), LID-only chats and groups."""
        chats: list[dict[str, Any]] = []
        for n in range(160):
            phone = f"1555{n:07d}@s.whatsapp.net"
            lid = f"20{n:013d}@lid" if n % 3 == 0 else ""
            chats.append({"jid": phone, "senders": [(phone, phone, lid, f"Person {n}")]})
        for n in range(20):
            lid = f"21{n:013d}@lid"
            chats.append({"jid": lid, "senders": [(lid, "", lid, f"Hidden {n}")]})
        for n in range(40):
            senders = []
            for m in range(self.rng.randint(3, 60)):
                k = n * 100 + m
                phone = f"1556{k:07d}@s.whatsapp.net"
                if k % 4 == 0:  # a LID-addressed member whose phone is known
                    lid = f"22{k:013d}@lid"
                    senders.append((lid, phone, lid, f"Member {k}"))
                elif k % 4 == 1:  # LID only
                    lid = f"22{k:013d}@lid"
                    senders.append((lid, "", lid, f"Member {k}"))
                else:
                    senders.append((phone, phone, "", f"Member {k}"))
            chats.append({"jid": f"1203630{n:011d}@g.us", "senders": senders})
        self.rng.shuffle(chats)  # busy chats of every kind
        return chats

    def word_band(self, band: str) -> list[str]:
        low, high = BANDS[band]
        return self.words[low:high]

    def body(self) -> str:
        rng = self.rng
        r = rng.random()
        n = rng.randint(1, 8) if r < 0.6 else rng.randint(9, 30) if r < 0.92 else rng.randint(31, 150)
        words = rng.choices(self.words, cum_weights=self.cumulative, k=n)
        for i in range(len(words)):
            x = rng.random()
            if x < 0.04:
                words[i] += ","
            elif x < 0.05:
                words[i] = words[i].capitalize()
            elif x < 0.055:
                words[i] = str(rng.randint(1, 2030))
        words[0] = words[0].capitalize()
        text = " ".join(words) + rng.choice((".", "", "", "?", "!", " 👍", " 😂"))
        if rng.random() < 0.01:
            text += f" https://example.com/{rng.choice(self.words)}/{rng.randint(1, 9999)}"
        return text

    def message(self, wa_id: str, timestamp: datetime) -> Any:
        from whatsapp.engine.base import InboundMessage, Kind, MediaRef

        rng = self.rng
        chat = self.chats[bisect.bisect_left(self.chat_weights, rng.random() * self.chat_weights[-1])]
        from_me = rng.random() < 0.25
        if from_me:
            sender, phone, lid, name = self.own, self.own, "", ""
        else:
            sender, phone, lid, name = rng.choice(chat["senders"])
        body = self.body()
        self.produced += 1
        if len(self.sample) < 20_000:
            self.sample.append(body)
        elif (k := rng.randrange(self.produced)) < 20_000:
            self.sample[k] = body
        fields: dict[str, Any] = {}
        if rng.random() < 0.04:
            fields = {"kind": Kind.IMAGE, "media": MediaRef(
                mime_type="image/jpeg", size=rng.randint(20_000, 3_000_000), sha256=f"{rng.getrandbits(256):064x}",
                locator={"direct_path": f"/v/t62/{wa_id}", "media_key": f"{rng.getrandbits(128):032x}"})}
            if rng.random() < 0.3:
                body = ""
        return InboundMessage(wa_id=wa_id, chat_jid=chat["jid"], sender_jid=sender, timestamp=timestamp,
                              text=body, from_me=from_me, sender_phone_jid=phone, sender_lid=lid, push_name=name,
                              **fields)

    def stream(self, prefix: str, count: int, start: datetime, end: datetime) -> Iterator[Any]:
        """``count`` messages with ids ``prefix…`` and timestamps spread from ``start`` to ``end``."""
        step = (end - start) / max(1, count)
        for i in range(count):
            yield self.message(f"{prefix}{i:012X}", start + step * i)


def _accumulate(values: Any) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def queries(corpus: Corpus, kind: str, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """``count`` (query, band) pairs of one kind."""
    from whatsapp.search.tokenizer import tokenize

    found: list[tuple[str, str]] = []
    bands = list(BANDS)
    while len(found) < count:
        band = bands[len(found) % len(bands)]
        if kind == "keyword":
            found.append((rng.choice(corpus.word_band(band)), band))
        elif kind == "prefix":
            tokens = tokenize(rng.choice(corpus.word_band(band)))
            if not tokens or len(tokens[0]) < 4:
                continue
            word = tokens[0]
            found.append((word[:rng.randint(3, min(6, len(word) - 1))] + "*", band))
        else:
            tokens = tokenize(rng.choice(corpus.sample))
            size = 3 if rng.random() < 0.3 else 2
            if len(tokens) < size:
                continue
            start = rng.randrange(len(tokens) - size + 1)
            found.append(('"' + " ".join(tokens[start:start + size]) + '"', "from messages"))
    return found


# --- measuring ---------------------------------------------------------------------------------------

def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values_s: list[float]) -> dict[str, float]:
    ordered = sorted(values_s)
    if not ordered:
        return {}
    ms = lambda v: round(v * 1000, 2)  # noqa: E731
    return {"n": len(ordered), "p50_ms": ms(percentile(ordered, 0.5)), "p95_ms": ms(percentile(ordered, 0.95)),
            "p99_ms": ms(percentile(ordered, 0.99)), "max_ms": ms(ordered[-1]),
            "mean_ms": ms(sum(ordered) / len(ordered))}


class Statements:
    """Counts and times the SQL statements run on a connection, by kind (``connection.execute_wrapper``)."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @staticmethod
    def kind(sql: str) -> str:
        head = sql.lstrip()[:60].upper()
        if head.startswith("SELECT COUNT(*)"):
            return "count"
        if "SEARCH_TEXT" in sql.upper() and "IS NULL" in sql.upper() and head.startswith("SELECT 1"):
            return "pending-check"
        verb = head.split(" ", 1)[0]
        table = next((word.strip('"') for word in sql.split() if word.strip('"').startswith("whatsapp_")), "")
        return f"{verb} {table}".strip()

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = self.kind(sql)
            self.count[kind] += 1
            self.seconds[kind] += time.perf_counter() - started

    def per(self, n: int) -> dict[str, float]:
        return {kind: round(count / n, 2) for kind, count in self.count.most_common()}


def say(text: str) -> None:
    print(text, flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _busy_jiffies() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def _process_jiffies(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


class CpuShare:
    """Cores used during a phase: by the whole machine, by this process, by its database backend
    (PostgreSQL), and by everything else — other work on the machine competes for its 2 cores."""

    def __init__(self) -> None:
        from django.db import connection

        self.backend = 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend = cursor.fetchone()[0]
        self.started = time.monotonic()
        self.machine, self.own = _busy_jiffies(), _process_jiffies(os.getpid())
        self.db = _process_jiffies(self.backend) if self.backend else 0

    def stop(self) -> dict[str, float]:
        wall = (time.monotonic() - self.started) * os.sysconf("SC_CLK_TCK")
        machine = _busy_jiffies() - self.machine
        own = _process_jiffies(os.getpid()) - self.own
        db = (_process_jiffies(self.backend) - self.db) if self.backend else 0
        return {"machine_cores": round(machine / wall, 2), "bench_cores": round(own / wall, 2),
                "db_backend_cores": round(db / wall, 2), "other_cores": round(max(0, machine - own - db) / wall, 2),
                "load_average": load_average()}


# --- the child: one database -------------------------------------------------------------------------

def setup_device(corpus: Corpus) -> tuple[Any, dict[str, int]]:
    from whatsapp.models import App, Device, Tenant
    from whatsapp.services.ingest import chat_for, link_identity

    tenant = Tenant.objects.create(name="Bench", slug="bench")
    app, _ = App.create_with_token(tenant, "bench")  # no webhook URL: no deliveries planned
    device = Device.create(app, "bench-store")
    device.mark_connected(corpus.own)
    device.refresh_from_db()
    chat_ids = {}
    for chat in corpus.chats:
        for _, phone, lid, _ in chat["senders"]:
            if phone and lid:
                link_identity(device, phone, lid)
        chat_ids[chat["jid"]] = chat_for(device, chat["jid"]).pk
    return device, chat_ids


def message_values(chat_ids: dict[str, int], message: Any) -> dict[str, Any]:
    """The fields ``ingest_message(..., from_history=True)`` gives the ``Message`` it creates for
    ``message`` (the others keep the model's defaults)."""
    from whatsapp.models import DeliveryStatus, Direction

    media = message.media
    return dict(  # noqa: C408 - the keyword arguments of ingest_message's Message.objects.create
        chat_id=chat_ids[message.chat_jid], wa_id=message.wa_id,
        direction=Direction.OUTBOUND if message.from_me else Direction.INBOUND,
        type=str(message.kind), from_me=message.from_me,
        sender_jid=message.sender_jid, sender_phone_jid=message.sender_phone_jid, sender_lid=message.sender_lid,
        sender_name=message.push_name, body=message.text, quoted_wa_id=message.quoted_wa_id,
        content=dict(message.content),
        media_mime_type=media.mime_type if media else "", media_file_name=media.file_name if media else "",
        media_size=media.size if media else None, media_sha256=media.sha256 if media else "",
        media_duration_s=media.duration_s if media else None, media_ptt=media.ptt if media else False,
        media_info=dict(media.locator) if media else {},
        status=DeliveryStatus.SENT if message.from_me else "",
        timestamp=message.timestamp, from_history=True,
    )


def load(device: Any, chat_ids: dict[str, int], corpus: Corpus, count: int, start: datetime, end: datetime,
         batch: int) -> dict[str, Any]:
    """Write ``count`` messages fast. Each row holds the model's own column values, made as
    ``bulk_create`` makes them (``pre_save`` then ``get_db_prep_save`` of each field; so ``search_text``
    is ``SearchTextField.pre_save``'s, what every save writes): the fields ``ingest_message`` sets, and
    for the others the defaults of a ``Message()`` made per batch. Sent with COPY (PostgreSQL) or
    ``executemany`` (SQLite); the database's triggers index the rows."""
    from types import SimpleNamespace

    from django.db import DEFAULT_DB_ALIAS, connections, transaction

    from whatsapp.engine.base import InboundMessage
    from whatsapp.models import Message

    connection = connections[DEFAULT_DB_ALIAS]  # not the proxy: its attribute lookups cost more than a field
    fields = [field for field in Message._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    varying = set(message_values({"": 0}, InboundMessage(wa_id="", chat_jid="", sender_jid="", timestamp=start)))
    started = time.monotonic()
    stream = corpus.stream("3EB0B", count, start, end)
    done, report_at = 0, time.monotonic() + 60
    while done < count:
        defaults = Message(device=device)
        template = [field.get_db_prep_save(field.pre_save(defaults, True), connection) for field in fields]
        plan = [(i, field) for i, field in enumerate(fields) if field.attname in varying or field.name == "search_text"]
        rows = []
        for message in _take(stream, min(batch, count - done)):
            values = SimpleNamespace(**message_values(chat_ids, message))
            row = template.copy()
            for i, field in plan:
                row[i] = field.get_db_prep_save(field.pre_save(values, True), connection)
            rows.append(row)
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY whatsapp_message ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(fields))
                cursor.cursor.executemany(f"INSERT INTO whatsapp_message ({columns}) VALUES ({marks})", rows)
        done += len(rows)
        if time.monotonic() > report_at:
            say(f"  load: {done:,}/{count:,} rows, {done / (time.monotonic() - started):,.0f} rows/s")
            report_at = time.monotonic() + 60
    loaded_s = time.monotonic() - started
    figures = {"rows": count, "seconds": round(loaded_s, 1), "rows_per_s": round(count / loaded_s) if count else 0,
               "method": "COPY" if connection.vendor == "postgresql" else "executemany"}
    started = time.monotonic()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # what autovacuum would do after such a load
            cursor.execute("VACUUM ANALYZE whatsapp_message")
            cursor.execute("ANALYZE")
            figures["vacuum_analyze_s"] = round(time.monotonic() - started, 1)
    return figures


def _take(iterator: Iterator[Any], n: int) -> list[Any]:
    return [item for _, item in zip(range(n), iterator, strict=False)]


def check_index(device: Any, sample: int = 2_000) -> dict[str, Any]:
    """The structures are there and a random sample of rows is indexed exactly as the real path does."""
    from django.db import connection

    from whatsapp.models import Message
    from whatsapp.search import index
    from whatsapp.search.tokenizer import index_text

    with connection.cursor() as cursor:
        problems = (index._pg_problems(cursor, False) if connection.vendor == "postgresql"
                    else index._sqlite_problems(cursor, False))
        last = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        ids = random.Random(1).sample(range(1, last + 1), min(sample, last))
        rows = list(Message.objects.filter(pk__in=ids).values_list("pk", "body", "search_text"))
        wrong_text = sum(text != index_text(body) for _, body, text in rows)
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM whatsapp_message WHERE id = ANY(%s) AND "
                           "search_vector IS DISTINCT FROM whatsapp_search_vector(search_text)", [ids])
        else:  # each row's FTS entry: the row is found by its own first token
            missing = 0
            for pk, _, text in rows:
                if text:
                    cursor.execute("SELECT count(*) FROM whatsapp_message_fts WHERE whatsapp_message_fts MATCH %s "
                                   "AND rowid = %s", ['"' + text.split(" ", 1)[0].replace('"', '""') + '"', pk])
                    missing += cursor.fetchone()[0] == 0
            cursor.execute("SELECT %s", [missing])
        wrong_index = cursor.fetchone()[0]
    return {"problems": problems, "sampled": len(rows), "wrong_search_text": wrong_text, "wrong_index": wrong_index}


def measure_history(device: Any, corpus: Corpus, count: int, batch: int, start: datetime,
                    end: datetime, prefix: str = "3EB0H") -> dict[str, Any]:
    from django.db import connection

    from whatsapp.services.ingest import ingest_history

    stream = corpus.stream(prefix, count, start, end)
    batches = [_take(stream, min(batch, count - i)) for i in range(0, count, batch)]
    statements = Statements()
    times, stored = [], 0
    cpu = CpuShare()
    with connection.execute_wrapper(statements):
        for messages in batches:
            started = time.perf_counter()
            stored += len(ingest_history(device, messages))
            times.append(time.perf_counter() - started)
    total = sum(times)
    return {"messages": count, "stored": stored, "batch": batch, "seconds": round(total, 2),
            "msgs_per_s": round(count / total), "per_batch": spread(times),
            "statements_per_msg": round(sum(statements.count.values()) / count, 2),
            "statements_by_kind_per_msg": statements.per(count), "cpu": cpu.stop()}


def measure_live(device: Any, corpus: Corpus, count: int, prefix: str) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from whatsapp.services.ingest import ingest_message

    statements = Statements()
    times = []
    cpu = CpuShare()
    with connection.execute_wrapper(statements):
        for i in range(count + 50):
            message = corpus.message(f"{prefix}{i:012X}", timezone.now())
            started = time.perf_counter()
            stored = ingest_message(device, message)
            elapsed = time.perf_counter() - started
            assert stored is not None
            if i >= 50:  # the first ones warm caches; not counted
                times.append(elapsed)
    return {"messages": count, "warmup": 50, **spread(times),
            "statements_per_msg": round(sum(statements.count.values()) / (count + 50), 2), "cpu": cpu.stop()}


def measure_search(device: Any, corpus: Corpus, per_kind: int, seed: int) -> dict[str, Any]:
    from django.db import connection

    from whatsapp.search.service import search_messages

    rng = random.Random(seed + 1)
    for kind in KINDS:  # warm-up, not counted
        for query, _ in queries(corpus, kind, 10, rng):
            search_messages(device, query, limit=20)
    figures: dict[str, Any] = {}
    for kind in KINDS:
        chosen = queries(corpus, kind, per_kind, rng)
        times, by_band, by_hits = [], defaultdict(list), defaultdict(list)
        hits_by_band: defaultdict[str, list[int]] = defaultdict(list)
        statements = Statements()
        slowest: list[tuple[float, str, int | None]] = []
        cpu = CpuShare()
        with connection.execute_wrapper(statements):
            for query, band in chosen:
                started = time.perf_counter()
                page = search_messages(device, query, limit=20)
                elapsed = time.perf_counter() - started
                times.append(elapsed)
                by_band[band].append(elapsed)
                hits_by_band[band].append(page.total or 0)
                bucket = next(name for low, name in reversed(HIT_BUCKETS) if (page.total or 0) >= low)
                by_hits[bucket].append(elapsed)
                slowest.append((elapsed, query, page.total))
        slowest.sort(reverse=True)
        figures[kind] = {
            **spread(times),
            "by_band": {band: {**spread(values), "median_hits": sorted(hits_by_band[band])[len(values) // 2]}
                        for band, values in by_band.items()},
            "by_hits": {name: spread(by_hits[name]) for _, name in HIT_BUCKETS if by_hits[name]},
            "sql_ms_per_query": {k: round(1000 * s / len(chosen), 2) for k, s in statements.seconds.items()},
            "statements_per_query": statements.per(len(chosen)),
            "slowest": [[round(t * 1000, 1), q, total] for t, q, total in slowest[:5]],
            "cpu": cpu.stop(),
        }
    return figures


def run_backend(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from whatsapp.models import Message

    vendor = connection.vendor
    total = args.messages
    history, live = min(args.history, total // 4), min(args.live, total // 10)
    diagnostic = vendor == "postgresql" and not args.no_diagnostics
    extra = (min(1_000, history), min(500, live)) if diagnostic else (0, 0)
    bulk = total - history - live - sum(extra)
    corpus = Corpus(args.seed)
    figures: dict[str, Any] = {"vendor": vendor, "messages": total}
    if vendor == "sqlite":
        with connection.cursor() as cursor:
            figures["sqlite_settings"] = {"version": cursor.execute("SELECT sqlite_version()").fetchone()[0]}
            for pragma in ("journal_mode", "synchronous", "cache_size", "mmap_size"):
                figures["sqlite_settings"][pragma] = cursor.execute(f"PRAGMA {pragma}").fetchone()[0]
        say(f"[sqlite] settings: {figures['sqlite_settings']} (no ANALYZE: the gateway never runs one)")
    now = timezone.now()
    device, chat_ids = setup_device(corpus)
    say(f"[{vendor}] device with {len(chat_ids)} chats; loading {bulk:,} messages "
        f"({'COPY' if vendor == 'postgresql' else 'executemany'}, batches of {args.load_batch:,}); "
        f"load average {load_average()}")
    figures["load"] = load(device, chat_ids, corpus, bulk, now - timedelta(days=730), now - timedelta(days=3),
                           args.load_batch)
    say(f"[{vendor}] loaded {bulk:,} rows in {figures['load']['seconds']} s "
        f"({figures['load']['rows_per_s']:,} rows/s)"
        + (f", VACUUM ANALYZE {figures['load']['vacuum_analyze_s']} s" if "vacuum_analyze_s" in figures["load"]
           else ""))
    figures["index_check"] = check_index(device)
    say(f"[{vendor}] index check: {figures['index_check']}")

    figures["history"] = h = measure_history(device, corpus, history, args.batch, now - timedelta(days=3),
                                             now - timedelta(days=2))
    say(f"[{vendor}] history ingest: {h['msgs_per_s']:,} messages/s ({h['messages']:,} messages in "
        f"batches of {h['batch']}, {h['seconds']} s; per batch p50 {h['per_batch']['p50_ms']} ms, "
        f"p99 {h['per_batch']['p99_ms']} ms; {h['statements_per_msg']} SQL statements per message)")
    say(f"    statements per message: {h['statements_by_kind_per_msg']}")
    say(f"    cpu (cores): {h['cpu']}")

    figures["live"] = lv = measure_live(device, corpus, live, "3EB0L")
    say(f"[{vendor}] live ingest_message: p50 {lv['p50_ms']} ms, p95 {lv['p95_ms']} ms, "
        f"p99 {lv['p99_ms']} ms, max {lv['max_ms']} ms ({lv['messages']:,} messages, "
        f"{lv['statements_per_msg']} SQL statements each)")
    say(f"    cpu (cores): {lv['cpu']}")

    if diagnostic:  # the same paths without waiting for the WAL flush at each commit
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
        dh = measure_history(device, corpus, extra[0], args.batch, now - timedelta(days=2), now - timedelta(days=1),
                             prefix="3EB0D")
        dl = measure_live(device, corpus, extra[1], "3EB0E")
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
        figures["diagnostic_synchronous_commit_off"] = {"history": dh, "live": dl}
        say(f"[{vendor}] diagnostic, synchronous_commit=off for this session (not the figures): history "
            f"{dh['msgs_per_s']:,} messages/s ({dh['messages']:,}); live p50 {dl['p50_ms']} ms, p95 {dl['p95_ms']} ms, "
            f"p99 {dl['p99_ms']} ms ({dl['messages']:,})")

    figures["stored"] = Message.objects.filter(device=device).count()
    say(f"[{vendor}] searching {figures['stored']:,} messages, {args.queries} queries of each kind; "
        f"load average {load_average()}")
    figures["search"] = measure_search(device, corpus, args.queries, args.seed)
    for kind in KINDS:
        s = figures["search"][kind]
        say(f"[{vendor}] search {kind} over {figures['stored']:,} messages: p50 {s['p50_ms']} ms, "
            f"p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms ({s['n']} queries)")
        for band, b in s["by_band"].items():
            say(f"    {band:>14}: p50 {b['p50_ms']} ms, p95 {b['p95_ms']} ms, median hits {b['median_hits']:,}")
        for name, b in s["by_hits"].items():
            say(f"    hits {name:>14}: n {b['n']}, p50 {b['p50_ms']} ms, p95 {b['p95_ms']} ms")
        say(f"    SQL ms per query by statement: {s['sql_ms_per_query']}; cpu (cores): {s['cpu']}")
        say(f"    slowest (ms, query, hits): {s['slowest'][:3]}")
    figures["targets_met"] = {
        "history": h["msgs_per_s"] >= TARGETS["history_msgs_per_s"],
        "live_p99": lv["p99_ms"] < TARGETS["live_p99_ms"],
        **{f"search_{kind}_p95": figures["search"][kind]["p95_ms"] < TARGETS["search_p95_ms"] for kind in KINDS},
    }
    print(RESULT_PREFIX + json.dumps(figures), flush=True)


# --- the parent: machine, databases, children ---------------------------------------------------------

def machine() -> dict[str, Any]:
    import django

    info: dict[str, Any] = {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
                            "python": platform.python_version(), "django": django.get_version()}
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                            if line.startswith("model name")), "")
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        info["memory_gb"] = round(int(mem.split()[1]) / 1024 / 1024, 1)
    return info


def postgres_settings(base: str) -> dict[str, Any]:
    import psycopg

    names = ("server_version", "shared_buffers", "work_mem", "effective_cache_size", "synchronous_commit", "fsync",
             "random_page_cost", "gin_pending_list_limit", "jit", "max_parallel_workers_per_gather")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}


def run_child(backend: str, env: dict[str, str], args: argparse.Namespace, messages: int) -> dict[str, Any]:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--backend", backend, "--messages", str(messages),
               "--queries", str(args.queries), "--history", str(args.history), "--batch", str(args.batch),
               "--live", str(args.live), "--load-batch", str(args.load_batch), "--seed", str(args.seed),
               *(["--no-diagnostics"] if args.no_diagnostics else [])]
    result: dict[str, Any] = {}
    started = time.monotonic()
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(RESULT_PREFIX):
                result = json.loads(line[len(RESULT_PREFIX):])
            else:
                print(line, end="", flush=True)
    if child.returncode:
        raise SystemExit(f"the {backend} run failed (exit {child.returncode})")
    result["wall_s"] = round(time.monotonic() - started, 1)
    return result


def main() -> None:
    args = parse_args()
    if args.backend:
        run_backend(args)
        return
    started = time.monotonic()
    figures: dict[str, Any] = {"machine": machine(), "settings": {
        "messages_postgres": args.messages, "messages_sqlite": None if args.skip_sqlite else args.sqlite_messages,
        "queries_per_kind": args.queries, "history_messages": args.history, "history_batch": args.batch,
        "live_messages": args.live, "load_batch": args.load_batch, "seed": args.seed, "search_limit": 20}}
    say(f"machine: {figures['machine']}")
    say(f"settings: {figures['settings']}")
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    base_env.update(SECRET_KEY="bench-" + "x" * 40, LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings")
    with tempfile.TemporaryDirectory(prefix="wag-store-bench-") as workdir:
        if not args.skip_postgres:
            import psycopg

            figures["postgres_settings"] = postgres_settings(args.postgres)
            say(f"postgres: {figures['postgres_settings']}")
            name = f"wag_bench_store_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                env = {**base_env, "DATABASE_URL": f"{args.postgres}/{name}", "DATA_DIR": f"{workdir}/pg"}
                figures["postgres"] = run_child("postgres", env, args, args.messages)
            finally:
                if args.keep_database:
                    say(f"kept the database {args.postgres}/{name}")
                else:
                    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not args.skip_sqlite:
            say(f"sqlite: a temporary file, {args.sqlite_messages:,} messages (the gateway's pragmas)")
            env = {**base_env, "DATABASE_URL": f"sqlite:///{workdir}/store.sqlite3", "DATA_DIR": f"{workdir}/sqlite"}
            figures["sqlite"] = run_child("sqlite", env, args, args.sqlite_messages)
    figures["wall_s"] = round(time.monotonic() - started, 1)
    say(f"summary (targets: history >= {TARGETS['history_msgs_per_s']:,} msgs/s, live p99 < "
        f"{TARGETS['live_p99_ms']} ms, search p95 < {TARGETS['search_p95_ms']} ms):")
    for vendor in ("postgres", "sqlite"):
        if vendor in figures:
            f = figures[vendor]
            search = ", ".join(f"{kind} p95 {f['search'][kind]['p95_ms']} ms" for kind in KINDS)
            say(f"  {vendor} ({f['stored']:,} messages): history {f['history']['msgs_per_s']:,} msgs/s, live p99 "
                f"{f['live']['p99_ms']} ms, {search}; targets met: {f['targets_met']}; run {f['wall_s']} s")
    say(f"total run time {figures['wall_s']} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
