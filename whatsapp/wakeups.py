"""Wake-ups: telling a process "there is new work in the database for X" without it polling.

A waiter (a device runner waiting for commands, a simulated phone network waiting for the phone's
actions) blocks until it is woken, so an idle waiter issues no database query and holds no database
connection until there is work — which is what lets one machine run a hundred idle devices, and one
PostgreSQL serve them. Two transports:

* distributed mode (``REDIS_URL``): a Redis list push; the waiter blocks on the list (``BLPOP``), so
  the notifier may be on another machine;
* embedded mode (no Redis, every process on one machine): a datagram to an abstract Unix socket the
  waiter has bound (Linux). Elsewhere there is no local transport: waiters poll, as before.

The database stays the source of truth: a lost wake-up (Redis down, no waiter bound yet) only delays
the work until the waiter's safety timeout, after which it looks at the database anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import sys
import threading
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction

logger = logging.getLogger("whatsapp.wakeups")

_clients: dict[str, Any] = {}
_lock = threading.Lock()
_sender: list[socket.socket] = []  # the process's one datagram socket for local wake-ups
LOCAL = sys.platform.startswith("linux")  # abstract Unix socket names are a Linux feature
MAX_WAIT_S = 60  # the longest a waiter blocks at once


def _redis() -> Any | None:
    url = settings.REDIS_URL
    if not url:
        return None
    with _lock:
        client = _clients.get(url)
        if client is None:
            import redis

            # redis-py's default read timeout (5 s) is shorter than a waiter's BLPOP may block.
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=MAX_WAIT_S + 5,
                                          health_check_interval=30)
            _clients[url] = client
        return client


def key(channel: str, ident: object) -> str:
    return f"wag:wake:{channel}:{ident}"


def _address(channel: str, ident: object) -> str:
    """The abstract socket name of a local waiter. Scoped by the database, so two gateways (or two
    test runs) on one machine never wake each other."""
    scope = hashlib.sha256(str(settings.DATABASES["default"].get("NAME")).encode()).hexdigest()[:16]
    return f"\0wag-wake-{scope}-{channel}-{ident}"


def available() -> bool:
    """Whether wake-ups are delivered (Redis, or local sockets) rather than discovered by polling."""
    return _redis() is not None or LOCAL


def notify(channel: str, ident: object) -> None:
    """Wake whoever waits on ``channel``/``ident`` now. Never raises: a missed wake-up is a delay."""
    client = _redis()
    if client is None:
        _notify_local(channel, ident)
        return
    name = key(channel, ident)
    try:
        with client.pipeline() as pipe:
            pipe.rpush(name, 1).ltrim(name, -1, -1).expire(name, 60).execute()
    except Exception as error:
        logger.warning("wake-up %s not delivered (%s); the waiter will poll", name, error)


def notify_on_commit(channel: str, ident: object) -> None:
    """Wake once the current transaction has committed (so the waiter sees the new rows)."""
    transaction.on_commit(lambda: notify(channel, ident))


def _notify_local(channel: str, ident: object) -> None:
    if not LOCAL:
        return
    with _lock:
        if not _sender:
            sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sender.setblocking(False)
            _sender.append(sender)
    with contextlib.suppress(OSError):  # nobody waits (refused), or its queue is full (it is awake already)
        _sender[0].sendto(b"1", _address(channel, ident))


class Waiter(Protocol):
    def wait(self, timeout_s: float) -> bool:
        """Block until woken or ``timeout_s`` passes; returns whether a wake-up arrived."""

    def close(self) -> None:
        """Stop receiving wake-ups (another waiter may then take the name)."""


class RedisWaiter:
    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name

    def wait(self, timeout_s: float) -> bool:
        try:
            return self.client.blpop([self.name], timeout=min(max(1, round(timeout_s)), MAX_WAIT_S)) is not None
        except Exception as error:
            logger.warning("waiting for wake-ups failed (%s); polling instead", error)
            threading.Event().wait(min(timeout_s, 1.0))
            return False

    def close(self) -> None:
        pass


class LocalWaiter:
    """A bound abstract datagram socket: a wake-up is any datagram; several pending ones are one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def wait(self, timeout_s: float) -> bool:
        try:
            self.sock.settimeout(max(timeout_s, 0.001))
            self.sock.recv(16)
        except OSError:  # timed out (TimeoutError), or closed
            return False
        try:
            self.sock.setblocking(False)
            while self.sock.recv(16):  # the wake-ups that queued up meanwhile are this one
                pass
        except OSError:
            pass
        return True

    def close(self) -> None:
        self.sock.close()


def waiter(channel: str, ident: object) -> Waiter | None:
    """A waiter for ``channel``/``ident``, or None when wake-ups cannot reach this process (no Redis
    and no local sockets, or another waiter of this machine holds the name): the caller then polls."""
    client = _redis()
    if client is not None:
        return RedisWaiter(client, key(channel, ident))
    if not LOCAL:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(_address(channel, ident))
    except OSError:
        sock.close()
        return None
    return LocalWaiter(sock)


def wait(channel: str, ident: object, timeout_s: float) -> bool:
    """Block until woken or ``timeout_s`` passes (a one-off waiter). Returns whether a wake-up
    arrived; without a transport it sleeps for the timeout (the caller then polls the database)."""
    one = waiter(channel, ident)
    if one is None:
        threading.Event().wait(timeout_s)
        return False
    try:
        return one.wait(timeout_s)
    finally:
        one.close()
