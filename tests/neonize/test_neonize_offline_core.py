"""The adapter against neonize's real Go core, offline (neonize-notes §3, §4.3).

Each scenario runs in a child process (the Go runtime must not stay loaded in, nor be forked from,
the test process; a Go panic would abort it). Children write their findings to a JSON file, so their
stdout stays empty unless something — neonize, Go, or the adapter — prints to it.

There is no internet here: whatsmeow's websocket dial fails at DNS resolution, fast.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ME = "15551234567@s.whatsapp.net"

PRELUDE = """
import json, sys, time
from whatsapp.engine.base import EngineConfig, Kind, OutgoingMessage
from whatsapp.engine.neonize_engine import NeonizeEngine
from whatsapp.errors import WhatsAppError
out_path, store, session_jid = sys.argv[1], sys.argv[2], sys.argv[3]
result = {}
events = []
engine = NeonizeEngine(EngineConfig(device_id="offline", session_store=store, session_jid=session_jid,
                                    options={"pair_wait_s": 0.2, "stop_wait_s": 10}), events.append)

def attempt(name, call):
    started = time.monotonic()
    try:
        result[name] = {"ok": repr(call())}
    except WhatsAppError as error:
        result[name] = {"code": error.code.code, "details": error.details}
    result[name]["seconds"] = time.monotonic() - started
"""
EPILOGUE = """
engine.flush(5)
result["events"] = [type(e).__name__ for e in events]
engine.close()
json.dump(result, open(out_path, "w"))
"""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SPHINX"}  # the real .so this time
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_child(tmp_path: Path, body: str, *, store: Path | str | None = None, session_jid: str = "") -> tuple[
        dict[str, Any], subprocess.CompletedProcess[str], float]:
    out = tmp_path / "result.json"
    script = PRELUDE + textwrap.dedent(body) + EPILOGUE
    store = str(store or tmp_path / "session.sqlite3")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script, str(out), store, session_jid], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"rc={proc.returncode} (-{signal.SIGABRT} is a Go abort)\n{proc.stderr[-3000:]}"
    return json.loads(out.read_text()), proc, elapsed


def add_device(store: Path, jid: str, push_name: str) -> None:
    """A stored session row as whatsmeow writes it (random keys: it only has to be listed and loaded)."""
    with sqlite3.connect(store) as db:
        db.execute(
            "INSERT INTO whatsmeow_device (jid, registration_id, noise_key, identity_key, signed_pre_key, "
            "signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details, adv_account_sig, adv_account_sig_key, "
            "adv_device_sig, push_name) VALUES (?, 1, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
            (jid, os.urandom(32), os.urandom(32), os.urandom(32), os.urandom(64), os.urandom(32), b"\0",
             os.urandom(64), os.urandom(32), os.urandom(64), push_name))


def test_importing_the_adapter_prints_nothing(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import whatsapp.engine.neonize_engine"], cwd=ROOT,
                          env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    # Using it — which loads the Go core and opens the store — prints nothing either.
    result, proc, _ = run_child(tmp_path, 'attempt("has_session", engine.has_session)\n', session_jid=ME)
    assert result["has_session"]["ok"] == "False"
    assert (tmp_path / "session.sqlite3").exists()
    assert proc.stdout == ""


def test_connect_fails_fast_with_dns_failed_and_creates_the_store(tmp_path: Path) -> None:
    result, proc, elapsed = run_child(tmp_path, """
        attempt("has_session", engine.has_session)
        attempt("connect", engine.connect)
        attempt("is_connected", engine.is_connected)
        attempt("connect_again", engine.connect)
    """)
    assert result["has_session"]["ok"] == "False"
    for name in ("connect", "connect_again"):
        assert result[name]["code"] == "CONNECTION_DNS_FAILED", result[name]
        assert "no such host" in result[name]["details"]["whatsapp_error"] or \
            "lookup web.whatsapp.com" in result[name]["details"]["whatsapp_error"]
        assert result[name]["seconds"] < 5
    assert result["is_connected"]["ok"] == "False"
    assert result["events"] == []  # the failure was raised to the caller, not reported twice
    assert elapsed < 30
    assert proc.stdout == ""
    with sqlite3.connect(tmp_path / "session.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"whatsmeow_device", "whatsmeow_sessions", "whatsmeow_identity_keys"} <= tables


def test_resume_by_jid_with_a_shared_store_and_a_comma_in_a_push_name(tmp_path: Path) -> None:
    store = tmp_path / "shared.sqlite3"
    create_tables = 'attempt("has_session", engine.has_session)\n'  # listing devices makes whatsmeow create them
    run_child(tmp_path, create_tables, store=store, session_jid=ME)
    add_device(store, "14440000000:3@s.whatsapp.net", "First, with a comma")
    add_device(store, "15551234567:7@s.whatsapp.net", "Second")
    result, _, _ = run_child(tmp_path, """
        attempt("has_session", engine.has_session)
        attempt("stored", lambda: engine._stored_device())
        attempt("connect", engine.connect)
    """, store=store, session_jid="15551234567@s.whatsapp.net")
    assert result["has_session"]["ok"] == "True"
    assert result["stored"]["ok"] == repr("15551234567:7@s.whatsapp.net")
    assert result["connect"]["code"] == "CONNECTION_DNS_FAILED"
    other, _, _ = run_child(tmp_path, 'attempt("has_session", engine.has_session)\n', store=store,
                            session_jid="19990000000@s.whatsapp.net")
    assert other["has_session"]["ok"] == "False"  # never "the first device" of a shared store


def test_no_operation_aborts_the_process_when_not_logged_in(tmp_path: Path) -> None:
    """neonize's get_me()/stores abort the process on an unregistered client; the adapter refuses instead."""
    result, proc, _ = run_child(tmp_path, """
        def everything(prefix):
            attempt(prefix + "react", lambda: engine.react("1555@s.whatsapp.net", "A", "1555@s.whatsapp.net", "x",
                                                           wa_id="w"))
            attempt(prefix + "edit", lambda: engine.edit("1555@s.whatsapp.net", "A", "t", wa_id="w"))
            attempt(prefix + "revoke", lambda: engine.revoke("1555@s.whatsapp.net", "A", "", wa_id="w"))
            attempt(prefix + "send", lambda: engine.send(OutgoingMessage(wa_id="w", to_jid="1555@s.whatsapp.net",
                                                                         text="hi")))
            attempt(prefix + "create_group", lambda: engine.create_group("g", []))
            attempt(prefix + "user_info", lambda: engine.user_info(["1555@s.whatsapp.net"]))
            attempt(prefix + "lid_for_phone", lambda: engine.lid_for_phone("1555@s.whatsapp.net"))
            attempt(prefix + "pair_phone", lambda: engine.pair_phone("15551234567"))
            attempt(prefix + "probe", lambda: engine.probe(1.0))
            attempt(prefix + "is_connected", engine.is_connected)
            attempt(prefix + "logout", engine.logout)

        everything("fresh_")
        attempt("connect", engine.connect)
        everything("after_failed_connect_")
        engine.disconnect()
        everything("after_disconnect_")
    """)
    for prefix in ("fresh_", "after_failed_connect_", "after_disconnect_"):
        for name in ("react", "edit", "revoke", "send", "create_group", "user_info", "lid_for_phone", "pair_phone"):
            assert result[prefix + name].get("code") == "MESSAGE_NOT_CONNECTED", (prefix + name, result[prefix + name])
        assert result[prefix + "probe"]["code"] == "HEALTH_CHECK_FAILED"
        assert result[prefix + "is_connected"]["ok"] == "False"
        assert result[prefix + "logout"]["ok"] == "None"
    assert proc.stdout == ""


def test_store_in_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    result, _, _ = run_child(tmp_path, """
        attempt("has_session", engine.has_session)
        attempt("connect", engine.connect)
    """, store=tmp_path / "missing" / "session.sqlite3", session_jid="15551234567@s.whatsapp.net")
    assert result["has_session"]["code"] == "SERVICE_UNAVAILABLE"
    assert result["connect"]["code"] == "SERVICE_UNAVAILABLE"


def test_offline_logout_deletes_the_stored_keys(tmp_path: Path) -> None:
    store = tmp_path / "session.sqlite3"
    run_child(tmp_path, 'attempt("has_session", engine.has_session)\n', store=store, session_jid=ME)
    add_device(store, "15551234567:7@s.whatsapp.net", "Me")
    result, _, _ = run_child(tmp_path, """
        attempt("before", engine.has_session)
        attempt("logout", engine.logout)
        attempt("after", engine.has_session)
    """, store=store, session_jid="15551234567@s.whatsapp.net")
    assert (result["before"]["ok"], result["logout"]["ok"], result["after"]["ok"]) == ("True", "None", "False")
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM whatsmeow_device").fetchone() == (0,)
