"""Helpers for simulator tests: an event recorder (the engine's sink), engines that are always closed,
and the phone's side played through the same functions ``manage.py simulate`` uses."""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from whatsapp.engine.base import Connected, EngineConfig, QRCodeIssued
from whatsapp.engine.simulator import network
from whatsapp.engine.simulator.engine import SimulatorEngine

SCALE = 0.02  # 160 s of QR window in 3.2 s; receipts in 30-80 ms
ALICE = "15145550101@s.whatsapp.net"
ALICE_LID = "118207457280017@lid"
BOB = "15145550102@s.whatsapp.net"
CHLOE = "15145550103@s.whatsapp.net"  # no LID in the fixture
DEV = "447700900123@s.whatsapp.net"
FERNANDA = "5511912345678@s.whatsapp.net"  # refuses being added to groups
LANDLINE = "15145550107@s.whatsapp.net"  # not on WhatsApp
FAMILY = "120363041234567890@g.us"  # the account joins as a member
FALCON = "120363052345678901@g.us"  # the account joins as an admin
NEWS = "120363063456789012@g.us"  # announcement-only; the account is a plain member
OWNER_PHONE = "+15145550100"
OWNER = "15145550100@s.whatsapp.net"

E = TypeVar("E")


class Recorder:
    """The engine's sink: collects events from any thread; tests wait for the ones they expect."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._backlog: list[Any] = []
        self.history: list[Any] = []

    def __call__(self, event: Any) -> None:
        self._queue.put((time.monotonic(), event))

    def wait_for(self, kind: type[E], where: Callable[[E], bool] | None = None, timeout: float = 5.0) -> E:
        """The next unconsumed event of ``kind`` (matching ``where``), waiting up to ``timeout`` seconds."""
        return self.wait_for_timed(kind, where, timeout)[1]

    def wait_for_timed(self, kind: type[E], where: Callable[[E], bool] | None = None,
                       timeout: float = 5.0) -> tuple[float, E]:
        """Like :meth:`wait_for`, with the monotonic time the event reached the sink."""
        for index, (at, event) in enumerate(self._backlog):
            if isinstance(event, kind) and (where is None or where(event)):
                del self._backlog[index]
                return at, event
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind.__name__} within {timeout} s; backlog: "
                                     f"{[type(e).__name__ for _, e in self._backlog]}")
            try:
                at, event = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            self.history.append(event)
            if isinstance(event, kind) and (where is None or where(event)):
                return at, event
            self._backlog.append((at, event))

    def drain(self, settle: float = 0.0) -> list[Any]:
        """Every event not consumed yet (after waiting ``settle`` seconds for stragglers)."""
        time.sleep(settle)
        while True:
            try:
                at, event = self._queue.get_nowait()
            except queue.Empty:
                break
            self.history.append(event)
            self._backlog.append((at, event))
        events = [event for _, event in self._backlog]
        self._backlog.clear()
        return events


class Harness:
    """Starts engines for a test and closes every one of them at the end."""

    def __init__(self) -> None:
        self.engines: list[SimulatorEngine] = []

    def start(self, device_id: str | None = None, *, scale: float = SCALE, session_jid: str = "",
              **options: Any) -> tuple[SimulatorEngine, Recorder]:
        recorder = Recorder()
        config = EngineConfig(device_id=device_id or str(uuid.uuid4()), session_store="simulator",
                              session_jid=session_jid, options={"time_scale": scale, **options})
        engine = SimulatorEngine(config, recorder)
        self.engines.append(engine)
        return engine, recorder

    def linked(self, *, phone: str = OWNER_PHONE, name: str = "Owner", **options: Any) -> tuple[SimulatorEngine,
                                                                                                   Recorder]:
        """An engine whose device is linked (scanned) and connected; its events so far are drained."""
        engine, recorder = self.start(**options)
        engine.connect()
        recorder.wait_for(QRCodeIssued)
        act(engine, "scan", {"phone": phone, "name": name})
        recorder.wait_for(Connected)
        recorder.drain()
        return engine, recorder

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


def act(engine: SimulatorEngine, action: str, payload: dict[str, Any] | None = None,
        timeout: float = 5.0) -> dict[str, Any]:
    """Play the phone: what ``simulate <action>`` does, against this engine's device."""
    return network.perform(engine.device_id, action, payload or {}, timeout_s=timeout)


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
