"""Real processes for integration and e2e tests: free ports, a private Redis, a fresh PostgreSQL
database, and polling helpers. Everything listens on 127.0.0.1 only and is stopped by its fixture."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.25, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (httpx.HTTPError, OSError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate} (last error: {last_error})")


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without topology variables, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                        "DJANGO_SETTINGS_MODULE")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides)
    return env


class ProcessGroup:
    """A subprocess in its own process group, stopped with SIGTERM (then SIGKILL) on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._log.close()
        return self.process.returncode


@contextlib.contextmanager
def private_redis(tmp_path: Path) -> Iterator[tuple[str, ProcessGroup]]:
    """A Redis server of our own on a free port, so a test may stop it without harming others."""
    redis_server = shutil.which("redis-server")
    assert redis_server, "redis-server is required (.ci/run installs it)"
    port = free_port()
    group = ProcessGroup([redis_server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                          "--appendonly", "no", "--dir", str(tmp_path)], clean_env(), tmp_path / "redis.log")
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=0.5).close() or True, 10,
                   what="private redis")
        yield url, group
    finally:
        group.stop()


def postgres_admin_url() -> str:
    return os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wagateway")


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards); yields its URL."""
    base = postgres_admin_url().rsplit("/", 1)[0]
    name = f"wag_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Stack:
    """The distributed topology under honcho: its base URL, environment, processes and Redis."""

    base: str
    env: dict[str, str]
    processes: ProcessGroup
    redis: ProcessGroup


@contextlib.contextmanager
def distributed_stack(tmp_path: Path, processes: list[str], **overrides: str) -> Iterator[Stack]:
    """The Procfile's ``processes`` on a fresh PostgreSQL database and a private Redis, migrated and
    answering ``/health``; stopped on exit."""
    with fresh_postgres_database() as database_url, private_redis(tmp_path) as (redis_url, redis):
        port = free_port()
        env = clean_env(DATABASE_URL=database_url, REDIS_URL=redis_url, DATA_DIR=str(tmp_path / "data"),
                        WEB_PORT=str(port), SECRET_KEY="e2e-secret-key-" + "x" * 40, **overrides)
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], cwd=PROJECT_ROOT, env=env, check=True,
                       capture_output=True)
        honcho = ProcessGroup([str(BIN / "honcho"), "start", *processes], env, tmp_path / "honcho.log")
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 60, what="web /health")
            yield Stack(base, env, honcho, redis)
        finally:
            honcho.stop()


def start_celery_worker(env: dict[str, str], tmp_path: Path, name: str) -> ProcessGroup:
    """A ``celery worker -Q default`` (threads pool, as the Procfile's) that has said it is ready."""
    group = ProcessGroup([str(BIN / "celery"), "-A", "config", "worker", "-Q", "default", "-P", "threads",
                          "--concurrency", "8", "-n", f"{name}@%h", "--without-mingle", "--without-gossip",
                          "--loglevel", "INFO"], env, tmp_path / f"{name}.log")
    try:
        wait_until(lambda: "ready." in group.log() or group.process.poll() is not None, 60, what=f"{name} ready")
        assert group.process.poll() is None, group.log()[-3000:]
    except BaseException:
        group.stop()
        raise
    return group


