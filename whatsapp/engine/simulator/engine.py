"""``SimulatorEngine``: the engine port implemented against the simulated network.

It lives inside a device runner. Its connection, QR window and timers are in memory (like a real
client's socket); everything another process must see — session keys, what was sent, the QR on
screen, pending faults, the world — is in the database (:mod:`.models`). A poller thread applies what
the phone does (``simulate …`` writes :class:`PhoneAction` rows) and a scheduler thread runs the timed
parts (QR rotation, receipts, delayed ``Connected``). Every duration is WhatsApp's, multiplied by the
time scale (``SIMULATOR_TIME_SCALE`` or ``options["time_scale"]``).

The hot paths read memory: which fault kinds are pending for the device and the world entries a send
needs are cached, and kept fresh as :mod:`.changes` describes (the poller's one query per tick sees
other processes' changes). A send without pending faults costs one INSERT; an idle poll one SELECT.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from whatsapp import jids, wakeups
from whatsapp.engine.base import (
    PERMANENT_REASONS,
    Connected,
    ConnectionLost,
    Engine,
    EngineConfig,
    EngineEvent,
    EventSink,
    IdentityLinked,
    LoggedOut,
    TemporarilyBanned,
)
from whatsapp.engine.simulator import changes, network, world
from whatsapp.engine.simulator.clock import Scheduler
from whatsapp.engine.simulator.db import retrying
from whatsapp.engine.simulator.groups import GroupsMixin
from whatsapp.engine.simulator.linking import LinkingMixin
from whatsapp.engine.simulator.messaging import MessagingMixin
from whatsapp.engine.simulator.models import NetworkRecord, SimDeviceState, SimSession
from whatsapp.engine.simulator.phone import PhoneMixin
from whatsapp.errors import ErrorCode, WhatsAppError

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.05  # real time: how soon the phone's actions are picked up (without wake-ups)
# With wake-ups (every action, sync and world change notifies) the poller only looks this often on
# its own, in case one was lost; it holds no PostgreSQL connection in between.
SAFETY_POLL_S = 10.0
RESUME_DELAY_S = 0.5  # WhatsApp time from connect() to Connected with a stored session
ACK_TIMEOUT_S = 75.0  # whatsmeow's default message/IQ response timeout
# Sessions whatsmeow keeps on these permanent events (StreamReplaced, ClientOutdated: "Store deleted: no").
KEEPS_SESSION = frozenset({"replaced", "client_outdated"})
TEMP_BAN_REASONS = {101: "sent_to_too_many_people", 102: "blocked_by_users", 103: "created_too_many_groups",
                    104: "sent_too_many_same_message", 106: "broadcast_list"}
WORLD_CACHE_MAX = 10_000  # world entries one engine keeps before starting over
_UNKNOWN = object()  # a world entry not looked up yet (None is a cached "not in the world")


class SimulatorEngine(LinkingMixin, MessagingMixin, GroupsMixin, PhoneMixin, Engine):
    """A faithful fake WhatsApp client for one device (see the module docstring)."""

    name = "simulator"

    def __init__(self, config: EngineConfig, sink: EventSink) -> None:
        super().__init__(config, sink)
        self.device_id = str(uuid.UUID(str(config.device_id)))
        self.scale = float(config.options.get("time_scale", settings.SIMULATOR_TIME_SCALE))
        # Real seconds between looks at the phone's actions (benchmarks with many devices may raise it).
        self.poll_interval = float(config.options.get("poll_interval_s", POLL_INTERVAL_S))
        self._lock = threading.RLock()
        self._closed = False
        self._socket = False  # a connection exists (linking, resuming or logged in)
        self._connected = False  # logged in and up
        self._conn_gen = 0  # bumped by every connect/disconnect; stale timers check it
        self._account: tuple[str, str, str] = ("", "", "")  # phone JID, LID, push name while connected
        self._held_events: list[EngineEvent] = []  # receipts due while offline, delivered on Connected
        self._revealed: set[tuple[str, str]] = set()
        # Caches (see :mod:`.changes`): each is stored with the generation it was loaded under.
        self._fault_stamp: Any = None  # the device's faults in the database, as the poller last saw them
        self._world_version: Any = None  # the world's version, as the poller last saw it
        self._faults: tuple[Any, frozenset[str]] | None = None
        self._world: tuple[Any, dict[str, Any]] = (None, {})
        self._init_linking()
        world.ensure_world()
        self._clock = Scheduler(f"sim-clock-{self.device_id[:8]}")
        self._stop = threading.Event()
        self._waiter = wakeups.waiter("sim", self.device_id)  # before the thread: close() may come at once
        self._poller = threading.Thread(target=self._poll_loop, name=f"sim-poll-{self.device_id[:8]}", daemon=True)
        changes.host(self.device_id)  # this process's fault changes reach this engine without a poll
        self._hosted = True
        self._poller.start()

    # --- time ----------------------------------------------------------------------------------

    def scaled(self, seconds: float) -> float:
        """Real seconds for a WhatsApp duration."""
        return seconds * self.scale

    def later(self, seconds: float, fn: Any, *args: Any) -> Any:
        """Run ``fn`` after a WhatsApp duration (scaled)."""
        return self._clock.call_later(self.scaled(seconds), fn, *args)

    # --- lifecycle -----------------------------------------------------------------------------

    def connect(self) -> None:
        with self._lock:
            if self._closed:
                raise WhatsAppError(ErrorCode.CONNECTION_LOST, "the engine is closed")
            if self._socket:
                return  # already connecting, linking or connected
            self._conn_gen += 1
            gen = self._conn_gen
            self._socket = True
        network.clear_faults(self.device_id, ("silent",))  # a fresh socket is alive again
        ban = network.active_fault(self.device_id, network.TEMP_BAN)
        if ban is not None:  # <failure reason=402> on every connect while the ban lasts
            remaining = max(0.0, (ban.until - timezone.now()).total_seconds()) if ban.until else None
            self._clock.call_later(0, self._refuse_temp_banned, gen, remaining, ban.detail.get("reason", ""))
            return
        if network.take_fault(self.device_id, (network.CONNECT_DROP,)) is not None:
            self.later(RESUME_DELAY_S, self._drop, gen, "connect attempt dropped (simulated fault)")
            return
        session = self._session()
        if session is not None:
            self.later(RESUME_DELAY_S, self._go_online, gen)
        else:
            self._start_linking(gen)

    def disconnect(self) -> None:
        with self._lock:
            self._conn_gen += 1
            self._stop_linking()
            self._socket = self._connected = False
        self._save_state()

    def logout(self) -> None:
        with self._lock:
            was_connected = self._connected
            account = self._account
        if was_connected:  # the remove-companion-device IQ reaches WhatsApp
            self._record("logout", "", {"phone_jid": account[0]})
        self.disconnect()
        retrying(lambda: SimSession.objects.filter(device_id=self.device_id).delete())

    def is_connected(self) -> bool:
        with self._lock:
            return self._socket and self._connected

    def probe(self, timeout_s: float) -> None:
        if not self.is_connected():
            raise WhatsAppError(ErrorCode.HEALTH_CHECK_FAILED, "not connected", details={"reason": "not_connected"})
        if self._silent():
            time.sleep(max(0.0, timeout_s))  # a dead socket never answers the ping
            raise WhatsAppError(ErrorCode.HEALTH_CHECK_FAILED,
                                f"no answer to the keepalive ping within {timeout_s:g} s",
                                details={"reason": "health_check_timeout"})

    def has_session(self) -> bool:
        return self._session() is not None

    def close(self) -> None:
        self.disconnect()
        with self._lock:
            self._closed = True
            hosted, self._hosted = self._hosted, False
        if hosted:
            changes.unhost(self.device_id)
        self._stop.set()
        self._nudge()  # end the poller's wait now
        self._clock.stop()
        if threading.current_thread() is not self._poller:
            self._poller.join(5)

    # --- state helpers ------------------------------------------------------------------------

    def _session(self) -> SimSession | None:
        def work() -> SimSession | None:
            query = SimSession.objects.filter(device_id=self.device_id)
            if self._session_jid:
                try:
                    query = query.filter(phone_jid=jids.normalize(self._session_jid))
                except ValueError:
                    return None
            return query.first()

        return retrying(work, atomic=False)

    # --- caches --------------------------------------------------------------------------------

    def _pending_faults(self) -> frozenset[str]:
        """The kinds of the device's pending faults, from memory unless something changed."""
        generation = (changes.fault_generation(self.device_id), self._fault_stamp)  # read before loading
        cached = self._faults
        if cached is None or cached[0] != generation:
            cached = (generation, network.pending_fault_kinds(self.device_id))
            self._faults = cached
        return cached[1]

    def _fault_may_strike(self, kinds: tuple[str, ...]) -> bool:
        """False when no fault of ``kinds`` is pending: the database need not be asked."""
        return not self._pending_faults().isdisjoint(kinds)

    def _observe(self, state: network.PollState) -> None:
        """Take in what a poll saw; a changed stamp or version makes the matching cache reload."""
        self._fault_stamp = state.fault_stamp
        self._world_version = state.world_version

    def _refresh_network(self) -> network.PollState:
        state = network.poll_state(self.device_id)
        self._observe(state)
        return state

    def _world_entry(self, key: str, load: Any) -> Any:
        """A world lookup (contact or group, or None), cached until the world changes."""
        generation = (changes.world_generation(), self._world_version)  # read before loading
        cached = self._world
        if cached[0] != generation or len(cached[1]) > WORLD_CACHE_MAX:
            cached = (generation, {})
            self._world = cached
        entries = cached[1]
        found = entries.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            found = entries[key] = load()
        return found

    def _forget_world(self) -> None:
        """Drop the cached world entries (before a refusal is confirmed against the database)."""
        self._world = (None, {})

    def _contact(self, jid: str) -> Any:
        return self._world_entry("contact:" + jid, lambda: world.contact_for(jid))

    def _group(self, jid: str) -> Any:
        return self._world_entry("group:" + jid, lambda: world.group(jid))

    def _silent(self) -> bool:
        return self._fault_may_strike(("silent",)) and network.active_fault(self.device_id, "silent") is not None

    def _online(self) -> bool:
        """Connected and the socket really alive: what decides whether the network delivers now."""
        return self.is_connected() and not self._silent()

    def _me(self) -> tuple[str, str, str]:
        with self._lock:
            return self._account

    def _save_state(self, **fields: Any) -> None:
        """Publish what the phone can see of this device (``simulate status``, scan checks)."""
        with self._lock:
            values: dict[str, Any] = {"connected": self._connected, **self._linking_state(), **fields}
        retrying(lambda: SimDeviceState.objects.update_or_create(device_id=self.device_id, defaults=values))

    def _go_online(self, gen: int) -> None:
        session = self._session()
        with self._lock:
            if gen != self._conn_gen or not self._socket:
                return
            if session is None:  # the keys vanished meanwhile (logged out elsewhere)
                self._socket = False
                return
        # Publish "connected" first, then look at the network before the first send can pass: a fault that
        # another process stored while it saw the device offline (so it did not wait for us) is seen.
        self._save_state(connected=True)
        self._refresh_network()
        with self._lock:
            stale = gen != self._conn_gen or not self._socket
            if not stale:
                self._connected = True
                self._account = (session.phone_jid, session.lid, session.push_name)
                held, self._held_events = self._held_events, []
        if stale:  # disconnected meanwhile: publish the truth again
            self._save_state()
            return
        self.sink(Connected(phone_jid=session.phone_jid, lid=session.lid, push_name=session.push_name))
        for event in held:
            self.sink(event)
        self._nudge()  # the phone's actions held while offline are delivered now

    def _drop(self, gen: int | None, detail: str, error: ErrorCode = ErrorCode.CONNECTION_LOST) -> None:
        """The socket closed unexpectedly (``Disconnected``): transient, the session stays."""
        with self._lock:
            if gen is not None and gen != self._conn_gen:
                return
            self._conn_gen += 1
            self._stop_linking()
            self._socket = self._connected = False
        self._save_state()
        self.sink(ConnectionLost(error=error, detail=detail))

    def _refuse_temp_banned(self, gen: int, remaining_s: float | None, reason: str) -> None:
        with self._lock:
            if gen != self._conn_gen:
                return
            self._socket = self._connected = False
        self._save_state()
        expires = math.ceil(remaining_s) if remaining_s is not None else None
        self.sink(TemporarilyBanned(expires_in_s=expires, reason=reason))

    def _end_session(self, reason: str, detail: str = "") -> None:
        """A permanent disconnect: the connection ends and, unless whatsmeow keeps the store for this
        reason, the session keys are deleted before the event is reported."""
        with self._lock:
            self._conn_gen += 1
            self._stop_linking()
            self._socket = self._connected = False
        if reason not in KEEPS_SESSION:
            retrying(lambda: SimSession.objects.filter(device_id=self.device_id).delete())
        self._save_state()
        self.sink(LoggedOut(reason=reason, error=PERMANENT_REASONS[reason], detail=detail))

    def emit_when_online(self, event: EngineEvent) -> None:
        """Deliver now if connected, else when the device next connects (WhatsApp holds it)."""
        with self._lock:
            if not (self._socket and self._connected):
                self._held_events.append(event)
                return
        self.sink(event)

    def reveal(self, phone_jid: str, lid: str) -> None:
        """Report a phone↔LID pair the network just disclosed (once per engine)."""
        if not phone_jid or not lid:
            return
        with self._lock:
            if (phone_jid, lid) in self._revealed:
                return
            self._revealed.add((phone_jid, lid))
        self.sink(IdentityLinked(phone_jid=phone_jid, lid=lid))

    def _record(self, kind: str, wa_id: str, payload: dict[str, Any], chat_jid: str = "") -> NetworkRecord:
        return retrying(lambda: NetworkRecord.objects.create(
            device_id=self.device_id, kind=kind, wa_id=wa_id, chat_jid=chat_jid, payload=payload))

    # --- network round trips and their faults -------------------------------------------------

    def require_online(self, operation: str) -> None:
        """The checks every request to WhatsApp goes through: logged in, socket alive, no timeout fault."""
        if not self.is_connected():
            raise WhatsAppError(ErrorCode.MESSAGE_NOT_CONNECTED, details={"operation": operation})
        if self._silent():
            time.sleep(self.scaled(ACK_TIMEOUT_S))
            raise WhatsAppError(ErrorCode.CONNECTION_TIMEOUT, f"{operation}: info query timed out",
                                details={"operation": operation})
        fault = network.take_fault(self.device_id, ("timeout",)) if self._fault_may_strike(("timeout",)) else None
        if fault is not None:
            time.sleep(self.scaled(fault.seconds if fault.seconds is not None else ACK_TIMEOUT_S))
            raise WhatsAppError(ErrorCode.CONNECTION_TIMEOUT, f"{operation}: timed out waiting for WhatsApp "
                                "(simulated fault)", details={"operation": operation})

    # --- the phone's actions ------------------------------------------------------------------

    def _nudge(self) -> None:
        """Make the poller look now (actions held while offline are due once online)."""
        if self._waiter is not None:
            wakeups.notify("sim", self.device_id)

    def _poll_loop(self) -> None:
        """Look at the phone's actions when woken (or, without wake-ups, every ``poll_interval``).
        Woken, it holds its PostgreSQL connection only while it works: a hundred idle devices must
        not hold a hundred connections."""
        waiter = self._waiter
        release = waiter is not None and connection.vendor != "sqlite"
        first = True  # look once at start: actions stored before this engine was up woke nobody
        try:
            while not self._stop.is_set():
                if first:
                    first = False
                elif waiter is not None:
                    waiter.wait(SAFETY_POLL_S)
                elif self._stop.wait(self.poll_interval):
                    break
                if self._stop.is_set():
                    break
                try:
                    self._poll_once()
                except Exception:
                    log.exception("simulator poller for %s failed", self.device_id)
                if release:
                    connection.close()
        finally:
            if waiter is not None:
                waiter.close()
            connection.close()

    def _poll_once(self) -> None:
        """Apply the phone's pending actions, oldest first (an action held while offline first, when
        online). Idle, this is one query, which also tells whether the caches went stale."""
        while not self._stop.is_set():
            state = self._refresh_network()
            if state.next_action is None and state.held_action is None:
                return
            action = None
            if state.held_action is not None and self._online():
                action = network.claim_held(state.held_action)
            if action is None and state.next_action is not None:
                action = network.claim(state.next_action)
            if action is None:
                if state.next_action is None:
                    return  # only held actions, and the device is offline (or another engine took it)
                continue  # another engine was first: look again
            self.handle_action(action)

    def handle_action(self, action: Any) -> None:
        """Apply one claimed action. Whether the device is online is decided now, after the claim: a
        disconnect between the claim and here must hold a delivery, not deliver it."""
        online = self._online()
        handler = getattr(self, f"_act_{action.action.replace('-', '_')}", None)
        if handler is None:
            network.finish(action, error=ValueError(f"unknown action {action.action!r}"))
            return
        if action.action in self.DELIVERIES and not online:
            network.finish(action, {"held": True, "detail": "the device is offline; WhatsApp delivers this "
                                    "when it reconnects"}, deferred=True)
            return
        if action.action in self.EPHEMERAL and not online:
            network.finish(action, {"delivered": False, "detail": "the device is offline"})
            return
        try:
            result = handler(action.payload)
        except Exception as exc:
            if not isinstance(exc, (WhatsAppError, ValueError, LookupError)):
                log.exception("simulated action %s failed", action.action)
            network.finish(action, error=exc)
        else:
            network.finish(action, result)

    def _act_sync(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``store_fault`` from another process: answered once the caches reflect its fault."""
        self._refresh_network()
        return {"synced": True}

    def _act_fault(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = payload["kind"]
        if kind == "drop":
            count = int(payload.get("count") or 0)
            if count:
                network.store_fault(self.device_id, network.CONNECT_DROP, count=count)
            self._drop(None, "connection dropped (simulated fault)")
            return {"fault": kind, "connect_attempts_to_drop": count}
        if kind == "ban":
            self._end_session("banned", "account banned (simulated fault)")
            return {"fault": kind}
        if kind == "logout":
            reason = payload.get("reason") or "logged_out"
            if reason not in PERMANENT_REASONS:
                raise ValueError(f"unknown logout reason {reason!r}; one of {', '.join(PERMANENT_REASONS)}")
            self._end_session(reason, f"{reason} (simulated fault)")
            return {"fault": kind, "reason": reason, "session_kept": reason in KEEPS_SESSION}
        if kind == "temp-ban":
            seconds = self.scaled(float(payload.get("seconds") or 3600))
            code = int(payload.get("code") or 101)
            reason = TEMP_BAN_REASONS.get(code, "unknown")
            network.store_fault(self.device_id, network.TEMP_BAN, until_s=seconds, detail={"reason": reason})
            with self._lock:
                gen = self._conn_gen = self._conn_gen + 1
                self._stop_linking()
            self._refuse_temp_banned(gen, seconds, reason)
            return {"fault": kind, "expires_in_s": math.ceil(seconds), "reason": reason,
                    "until": (timezone.now() + timedelta(seconds=seconds)).isoformat()}
        raise ValueError(f"fault {kind!r} is not applied through the engine")
