"""A Celery worker that counts the SQL statements it sends, for ``bench/webhooks.py --count-statements``.

    python bench/worker_probe.py -A config worker -Q default -P threads --concurrency 16   # as `celery …`

It runs ``celery`` unchanged (same arguments, same process) after hooking Django's
``connection_created`` signal to put a counting execute wrapper on every database connection. Counts
are keyed ``"<thread> <verb> <table>"`` — thread ``dispatcher`` (the webhook dispatcher's thread),
``task`` (a pool thread running tasks) or ``other`` — and written as JSON to ``$WORKER_PROBE_OUT``
twice a second (and at exit), so the bench can diff them around a measured phase.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COUNTS: Counter[str] = Counter()
_lock = threading.Lock()
_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)


def _kind() -> str:
    name = threading.current_thread().name
    if name == "webhook-dispatcher":
        return "dispatcher"
    if name.startswith("ThreadPoolExecutor"):
        return "task"
    return "other"


def _count(execute, sql, params, many, context):
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    table = _TABLE.search(sql)
    key = f"{_kind()} {verb} {table.group(1).removeprefix('whatsapp_') if table else '-'}"
    with _lock:
        COUNTS[key] += 1
    return execute(sql, params, many, context)


def _install(sender: object, connection: object, **_: object) -> None:
    wrappers = connection.execute_wrappers  # type: ignore[attr-defined]
    if _count not in wrappers:
        wrappers.append(_count)


def _write(path: str) -> None:
    with _lock:
        data = json.dumps(COUNTS)
    Path(path + ".tmp").write_text(data)
    os.replace(path + ".tmp", path)


def _writer(path: str) -> None:
    while True:
        threading.Event().wait(0.5)
        _write(path)


def main() -> None:
    from django.db.backends.signals import connection_created

    connection_created.connect(_install, weak=False)
    out = os.environ.get("WORKER_PROBE_OUT")
    if out:
        threading.Thread(target=_writer, args=(out,), name="probe-writer", daemon=True).start()
        atexit.register(_write, out)
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *sys.argv[1:]]
    sys.exit(celery_main())


if __name__ == "__main__":
    main()
