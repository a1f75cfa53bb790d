"""The device runner: one WhatsApp client in one OS process (``manage.py run_device <id>``).

neonize's Go core keeps global state without locks, hangs children forked after it is imported and
writes to stdout, so each device gets a fresh process that holds exactly one engine. The runner:

* turns engine events into stored facts (ingest services, device transitions, the event log);
* executes the device's queued commands (sends and every other operation) and writes results back;
* follows seed 000's lifecycle: transient drops reconnect after 5, 10, 20, 40 and 80 s, then the
  device is ``disconnected`` with the last code; permanent reasons stop at once; a heartbeat probe
  detects silent disconnects (``HEALTH_CHECK_FAILED``);
* exits when the device needs no runner (nothing queued, not linking, not connected), when it is
  destroyed (after logging out), or when its fleet lost the device's lease — so two clients never
  run one session.

Engine callbacks only enqueue; all database work happens on the runner's main thread.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from approvals import replies
from approvals.models import Approval
from media import retrieval
from whatsapp import wakeups
from whatsapp.engine import base, create_engine
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import (
    CommandKind,
    ConnectionState,
    DeliveryStatus,
    Device,
    DeviceCommand,
    DeviceLease,
    DeviceStatus,
    EventType,
)
from whatsapp.models.commands import CLAIM_LIMIT
from whatsapp.runtime.sending import SendBatch
from whatsapp.services import ingest, throttles
from whatsapp.services.devices import devices_to_run

logger = logging.getLogger("whatsapp.runner")

LIFECYCLE_KINDS = (CommandKind.LINK, CommandKind.PAIR_PHONE, CommandKind.LOGOUT)
# Engine operations the generic ``call`` command may invoke (reads and group/contact changes).
CALLABLE = frozenset({
    "set_presence", "send_chat_state", "subscribe_presence", "create_group", "group_info", "joined_groups",
    "group_invite_link", "join_group", "leave_group", "update_participants", "set_group_name", "set_group_topic",
    "is_on_whatsapp", "user_info", "profile_picture", "lid_for_phone", "phone_for_lid",
})
# Operations the runner serves itself through ``call``: they need its engine and the store (a media
# download writes the file here, so the bytes never travel through the command's JSON).
RUNNER_CALLS = {"download_media": retrieval.fetch_to_store}
# Events that only add facts to the store; they are ingested in batches. Lifecycle events change
# the runner's own state and are handled one by one.
DATA_EVENTS = (base.MessageReceived, base.HistoryBatch, base.ReceiptReceived, base.ReactionReceived,
               base.MessageEdited, base.MessageRevoked, base.PresenceChanged, base.ChatPresenceChanged,
               base.IdentityLinked)
WAKE = object()  # put on the event queue by the wake-up listener: new commands in the database
# With wake-ups (Redis, or local sockets in embedded mode) an idle runner looks at the database only
# this often, and holds no PostgreSQL connection in between; without them it polls briskly.
SAFETY_POLL_S = 5.0
EMBEDDED_POLL_S = 0.2
IDLE_TICK_S = 1.0  # how often an idle runner with wake-ups checks its timers (events wake it at once)
IDLE_CLOSE_AFTER_S = 1.0
BATCH_WINDOW_S = 0.05  # while busy, how long work may gather before the next batch (added latency)
HOUSEKEEPING_INTERVAL_S = 1.0
LEASE_CHECK_INTERVAL_S = 5.0
PROBE_TIMEOUT_S = 8.0


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def merge_receipts(events: list[base.EngineEvent]) -> list[base.EngineEvent]:
    """Consecutive receipts of one status from one sender in one chat become one receipt."""
    merged: list[base.EngineEvent] = []
    for event in events:
        previous = merged[-1] if merged else None
        if (isinstance(event, base.ReceiptReceived) and isinstance(previous, base.ReceiptReceived)
                and (previous.chat_jid, previous.sender_jid, previous.status)
                == (event.chat_jid, event.sender_jid, event.status)):
            merged[-1] = base.ReceiptReceived(previous.chat_jid, previous.sender_jid,
                                              previous.wa_ids + event.wa_ids, event.status,
                                              max(previous.timestamp, event.timestamp))
        else:
            merged.append(event)
    return merged


def receipt_runs(events: list[base.EngineEvent]) -> list[list[base.EngineEvent]]:
    """Split events, in order, into runs of consecutive receipts and single other events."""
    runs: list[list[base.EngineEvent]] = []
    for event in events:
        if isinstance(event, base.ReceiptReceived) and runs and isinstance(runs[-1][0], base.ReceiptReceived):
            runs[-1].append(event)
        else:
            runs.append([event])
    return runs


class DeviceRunner:
    def __init__(self, device_id: str, *, lease_holder: str = "", engine_name: str = "") -> None:
        self.device = Device.objects.select_related("app").get(pk=device_id)
        self.lease_holder = lease_holder
        self.engine_name = engine_name or settings.WHATSAPP_ENGINE
        self.events: queue.Queue[base.EngineEvent] = queue.Queue()
        self.stopping = threading.Event()
        self.engine: base.Engine | None = None
        self.linking = False
        self.just_paired = False  # a new link: the welcome group is due once it connects
        self.waiting_for_qr: list[DeviceCommand] = []  # link and pair commands answered at the first QR
        self.reconnect_attempt = 0
        self.reconnect_at: float | None = None
        self.last_error = ErrorCode.CONNECTION_LOST
        self.next_probe_at = time.monotonic() + settings.HEALTH_CHECK_INTERVAL_SEC
        self.next_housekeeping_at = 0.0
        self.waiter = wakeups.waiter("device", self.device.pk)
        self.wakeups = self.waiter is not None
        self.idle_tick = IDLE_TICK_S if self.wakeups else EMBEDDED_POLL_S
        self.poll_interval = SAFETY_POLL_S if self.wakeups else EMBEDDED_POLL_S
        self.housekeeping_interval = SAFETY_POLL_S if self.wakeups else HOUSEKEEPING_INTERVAL_S
        self.next_command_poll_at = 0.0
        self.check_commands = True
        self.last_activity = time.monotonic()
        self.next_lease_check_at = time.monotonic() + LEASE_CHECK_INTERVAL_S

    # --- main loop --------------------------------------------------------------------------

    def run(self) -> int:
        requeued, failed = DeviceCommand.recover_interrupted(self.device.pk)
        if requeued or failed:
            logger.warning("device %s: recovered %d interrupted commands, failed %d", self.device.pk, requeued, failed)
        self.engine = create_engine(self.engine_name, self._engine_config(), self.events.put)
        if self.wakeups:
            threading.Thread(target=self._listen_for_wakeups, name="wakeups", daemon=True).start()
        try:
            if self.device.status == DeviceStatus.CONNECTED and self.engine.has_session():
                self._connect()
            elif self.device.status == DeviceStatus.CONNECTED:
                # Linked in the database, but the WhatsApp session is gone (e.g. a reconnect asked of a
                # session whose keys were lost): say so instead of looking connected forever.
                self.device.mark_disconnected(ErrorCode.AUTH_SESSION_EXPIRED, permanent=True, reason="session_missing")
            while not self.stopping.is_set():
                busy = self._drain_events()
                now = time.monotonic()
                claimed = 0
                if self.check_commands or now >= self.next_command_poll_at:
                    claimed = self._run_commands()
                    self.check_commands = claimed > 0  # some came: more may be coming, look again soon
                    self.next_command_poll_at = now + self.poll_interval
                    busy |= claimed > 0
                if self.reconnect_at is not None and now >= self.reconnect_at:
                    self._attempt_reconnect()
                if now >= self.next_probe_at:
                    self._probe()
                if now >= self.next_housekeeping_at and self._should_exit():
                    break
                self._release_idle_connection(busy)
                if claimed >= CLAIM_LIMIT:
                    continue  # a backlog: the next batch at once
                if busy:
                    # A stream: let commands and receipts gather for a moment, so the next claim and the
                    # next ingest each take many (a few statements per batch, not per message).
                    self.stopping.wait(BATCH_WINDOW_S)
                else:
                    self._wait(self._idle_wait(now))
        finally:
            self._shutdown()
        return 0

    def _listen_for_wakeups(self) -> None:
        """Turn wake-ups into WAKE events. After one, it pauses for a batch window: a stream of
        accepted messages sends a wake-up each, but the busy runner looks again within that window
        anyway, and wake-ups arriving meanwhile wait for the next look (none is lost)."""
        while not self.stopping.is_set():
            if self.waiter.wait(SAFETY_POLL_S):
                self.events.put(WAKE)
                self.stopping.wait(BATCH_WINDOW_S)

    def _idle_wait(self, now: float) -> float:
        """How long an idle loop may sleep: until the next timer is due, at most one idle tick
        (engine events and wake-ups end the sleep at once)."""
        due = [self.next_command_poll_at, self.next_probe_at, self.next_housekeeping_at]
        if self.reconnect_at is not None:
            due.append(self.reconnect_at)
        return min(self.idle_tick, max(0.02, min(due) - now))

    def _release_idle_connection(self, busy: bool) -> None:
        """Hold no database connection while idle (with wake-ups): a hundred idle runners must not
        take a hundred of PostgreSQL's connections. SQLite connections cost nothing to hold."""
        now = time.monotonic()
        if busy:
            self.last_activity = now
        elif (self.wakeups and now - self.last_activity > IDLE_CLOSE_AFTER_S and connection.connection is not None
              and connection.vendor != "sqlite"):
            connection.close()

    def stop(self, *_: object) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _wait(self, timeout: float) -> None:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        self._drain_events(first=event)

    def _engine_config(self) -> base.EngineConfig:
        options = {"time_scale": settings.SIMULATOR_TIME_SCALE} if self.engine_name == "simulator" else {}
        store = settings.DATABASES["default"]
        if store["ENGINE"].endswith("postgresql"):
            session_store = "postgres://{USER}:{PASSWORD}@{HOST}:{PORT}/{NAME}".format(**{
                k: store.get(k) or "" for k in ("USER", "PASSWORD", "HOST", "PORT", "NAME")})
        else:
            sessions = Path(settings.DATA_DIR) / "sessions"
            sessions.mkdir(parents=True, exist_ok=True)
            session_store = str(sessions / f"{self.device.pk}.sqlite3")
        return base.EngineConfig(device_id=str(self.device.pk), session_store=session_store,
                                 session_jid=self.device.session_jid, options=options)

    def _shutdown(self) -> None:
        self.stopping.set()
        if self.waiter is not None:  # end the listener's wait, then give the name back
            wakeups.notify("device", self.device.pk)
            self.waiter.close()
        for command in self.waiting_for_qr:
            command.fail(ErrorCode.CONNECTION_LOST, "The device runner stopped before a QR code was issued.")
        if self.engine is not None:
            try:
                self.engine.close()
            except WhatsAppError as error:
                logger.warning("device %s: close failed: %s", self.device.pk, error)
        if self.linking and self.device.status == DeviceStatus.QR_GENERATED:
            self.device.set_connection_state(ConnectionState.CLOSED)
        close_old_connections()

    def _should_exit(self) -> bool:
        """Housekeeping: react to the device row and the lease, and decide whether to stop."""
        self.next_housekeeping_at = time.monotonic() + self.housekeeping_interval
        self.device.refresh_from_db()
        if self.device.status == DeviceStatus.DESTROYED:
            self._logout_quietly()
            return True
        if self.lease_holder and time.monotonic() >= self.next_lease_check_at:
            self.next_lease_check_at = time.monotonic() + LEASE_CHECK_INTERVAL_S
            if not DeviceLease.is_held_by(self.device.pk, self.lease_holder):
                logger.warning("device %s: lease lost to another fleet; stopping", self.device.pk)
                return True
        if self.linking or self.reconnect_at is not None or self.waiting_for_qr:
            return False
        return not devices_to_run().filter(pk=self.device.pk).exists()

    # --- connection ---------------------------------------------------------------------------

    def _connect(self) -> None:
        self.device.set_connection_state(ConnectionState.CONNECTING)
        try:
            self.engine.connect()
        except WhatsAppError as error:
            self._connection_lost(error.code, str(error))

    def _connection_lost(self, error: ErrorCode, detail: str = "") -> None:
        """A transient drop: reconnect on seed 000's schedule, or give up after the last delay."""
        self.last_error = error
        delays = settings.RECONNECT_DELAYS_SEC
        if self.reconnect_attempt >= len(delays):
            logger.warning("device %s: giving up after %d reconnect attempts (%s)", self.device.pk,
                           self.reconnect_attempt, error.code)
            self.reconnect_at = None
            if self.device.status == DeviceStatus.CONNECTED:
                self.device.mark_disconnected(error, permanent=False, reason="reconnect_failed", session_cleared=False)
            self._fail_pending_sends(error)
            return
        delay = delays[self.reconnect_attempt]
        self.reconnect_at = time.monotonic() + delay
        logger.info("device %s: connection lost (%s %s); reconnect attempt %d in %s s", self.device.pk,
                    error.code, detail, self.reconnect_attempt + 1, delay)
        if self.device.status == DeviceStatus.CONNECTED:
            self.device.set_connection_state(ConnectionState.RECONNECTING, error)

    def _attempt_reconnect(self) -> None:
        self.reconnect_at = None
        self.reconnect_attempt += 1
        try:
            self.engine.disconnect()
            self.engine.connect()
        except WhatsAppError as error:
            self._connection_lost(error.code, str(error))
            return
        # Not connected until the engine says so; if it does not, the next attempt follows.
        delays = settings.RECONNECT_DELAYS_SEC
        if self.reconnect_attempt < len(delays):
            self.reconnect_at = time.monotonic() + delays[self.reconnect_attempt]
        else:
            self.reconnect_at = time.monotonic() + delays[-1]

    def _probe(self) -> None:
        self.next_probe_at = time.monotonic() + settings.HEALTH_CHECK_INTERVAL_SEC
        if self.device.status != DeviceStatus.CONNECTED or self.device.connection_state != ConnectionState.OPEN:
            return
        try:
            self.engine.probe(PROBE_TIMEOUT_S)
        except WhatsAppError as error:
            logger.warning("device %s: heartbeat failed: %s", self.device.pk, error)
            self._connection_lost(ErrorCode.HEALTH_CHECK_FAILED, str(error))

    def _logout_quietly(self) -> None:
        try:
            if self.engine.has_session() or self.engine.is_connected():
                self.engine.logout()
        except WhatsAppError as error:
            logger.warning("device %s: logout failed: %s", self.device.pk, error)

    # --- events -------------------------------------------------------------------------------

    def _drain_events(self, first: base.EngineEvent | None = None, limit: int = 500) -> bool:
        events = [first] if first is not None else []
        while len(events) < limit:
            try:
                events.append(self.events.get_nowait())
            except queue.Empty:
                break
        batch: list[base.EngineEvent] = []
        for event in events:
            if event is WAKE:
                self.check_commands = True
                continue
            if isinstance(event, DATA_EVENTS):
                batch.append(event)
                continue
            self._ingest(batch)
            batch = []
            self._handle_safely(event)
        self._ingest(batch)
        return bool(events)

    def _ingest(self, events: list[base.EngineEvent]) -> None:
        """Store a run of data events in one transaction (one commit instead of one per event);
        consecutive receipts together (see :func:`ingest.ingest_receipts`), everything else one by
        one, each in its own savepoint so one bad event cannot undo the others. A failed receipt run
        is stored again receipt by receipt, so one bad receipt cannot lose the rest."""
        if not events:
            return
        with transaction.atomic():
            for run in receipt_runs(merge_receipts(events)):
                if len(run) > 1 and self._store(lambda run=run: ingest.ingest_receipts(self.device, run), "receipts"):
                    continue
                for event in run:
                    self._store(lambda event=event: self.handle(event), type(event).__name__)

    def _store(self, work: Any, what: str) -> bool:
        try:
            with transaction.atomic():
                work()
        except Exception:
            logger.exception("device %s: failed to store %s", self.device.pk, what)
            return False
        return True

    def _handle_safely(self, event: base.EngineEvent) -> None:
        try:
            self.handle(event)
        except WhatsAppError as error:
            logger.warning("device %s: %s while handling %s", self.device.pk, error, type(event).__name__)
        except Exception:
            logger.exception("device %s: failed to handle %s", self.device.pk, type(event).__name__)

    def handle(self, event: base.EngineEvent) -> None:
        device = self.device
        match event:
            case base.QRCodeIssued(code=code, window_ends_at=ends):
                self.linking = True
                device.record_qr(code, ends)
                self._answer_qr_waiters()
            case base.QRWindowClosed():
                self._end_linking(ErrorCode.AUTH_QR_EXPIRED)
            case base.Paired():
                logger.info("device %s: paired as %s", device.pk, event.phone_jid)
                self.just_paired = True
            case base.Connected(phone_jid=phone, lid=lid, push_name=push_name):
                self.linking = False
                self.reconnect_attempt, self.reconnect_at = 0, None
                device.mark_connected(phone, lid, push_name, session_jid=phone)
                throttles.reset_auth_cooldown(device)  # a link ends the failed-pairing cooldown (§1.11)
                self.next_probe_at = time.monotonic() + settings.HEALTH_CHECK_INTERVAL_SEC
                self._apply_presence_mode()
                if self.just_paired:
                    self.just_paired = False
                    self._create_welcome_group()
            case base.ConnectionLost(error=error, detail=detail):
                if self.linking:
                    self._end_linking(error)
                else:
                    self._connection_lost(error, detail)
            case base.LoggedOut(reason=reason, error=error, detail=detail):
                logger.warning("device %s: logged out (%s) %s", device.pk, reason, detail)
                self.linking, self.reconnect_at = False, None
                keeps_store = reason in ("replaced", "client_outdated")
                if device.status in (DeviceStatus.CONNECTED, DeviceStatus.QR_GENERATED, DeviceStatus.DISCONNECTED):
                    device.mark_disconnected(error, permanent=True, reason=reason, session_cleared=not keeps_store)
                self._fail_pending_sends(error)
            case base.TemporarilyBanned(expires_in_s=expires, reason=reason):
                device.append_event(EventType.WARNING, {"code": ErrorCode.AUTH_TEMPORARILY_BANNED.code,
                                                        "reason": reason, "expires_in_s": expires})
                self._connection_lost(ErrorCode.AUTH_TEMPORARILY_BANNED, reason)
                if expires:
                    self.reconnect_at = time.monotonic() + expires
            case base.MessageReceived(message=message):
                stored = ingest.ingest_message(device, message)
                if stored is not None:
                    replies.decide_from_message(device, stored)
                if stored is not None and settings.AUTO_READ_RECEIPTS and not message.from_me:
                    transaction.on_commit(lambda: self._auto_read(message))  # no network I/O inside a transaction
            case base.HistoryBatch(messages=messages):
                for stored in ingest.ingest_history(device, messages):
                    replies.decide_from_message(device, stored)  # recent history can answer (< 120 s old)
            case base.ReceiptReceived():
                ingest.ingest_receipt(device, event)
            case base.ReactionReceived():
                ingest.ingest_reaction(device, event)
            case base.MessageEdited():
                ingest.ingest_edit(device, event)
            case base.MessageRevoked():
                ingest.ingest_revoke(device, event)
            case base.PresenceChanged():
                ingest.ingest_presence(device, event)
            case base.ChatPresenceChanged():
                ingest.ingest_chat_presence(device, event)
            case base.IdentityLinked(phone_jid=phone, lid=lid):
                ingest.link_identity(device, phone, lid)

    def _end_linking(self, error: ErrorCode) -> None:
        self.linking = False
        if self.device.status == DeviceStatus.QR_GENERATED:
            self.device.mark_qr_expired()
        for command in self.waiting_for_qr:
            command.fail(error)
        self.waiting_for_qr = []

    def _answer_qr_waiters(self) -> None:
        waiting, self.waiting_for_qr = self.waiting_for_qr, []
        for command in waiting:
            if command.kind == CommandKind.LINK:
                command.succeed({"qr_code": self.device.qr_code, "qr_expires_at": self.device.qr_expires_at})
            else:
                self._pair_phone(command)

    def _apply_presence_mode(self) -> None:
        try:
            self.engine.set_presence(settings.PRESENCE_MODE == "available")
        except WhatsAppError as error:
            logger.info("device %s: could not set presence: %s", self.device.pk, error)

    def _create_welcome_group(self) -> None:
        """``WELCOME_GROUP_NAME``: once per newly linked session (never on reconnects); empty disables."""
        name = settings.WELCOME_GROUP_NAME
        if not name:
            return
        try:
            group = self.engine.create_group(name, [])
        except WhatsAppError as error:
            logger.warning("device %s: could not create the welcome group: %s", self.device.pk, error)
            return
        ingest.chat_for(self.device, group.jid, name=group.name)
        logger.info("device %s: created the welcome group %s", self.device.pk, group.jid)

    def _auto_read(self, message: base.InboundMessage) -> None:
        try:
            self.engine.mark_read(message.chat_jid, message.sender_jid, [message.wa_id], message.timestamp)
        except WhatsAppError as error:
            logger.info("device %s: auto read receipt failed: %s", self.device.pk, error)

    # --- commands -----------------------------------------------------------------------------

    def _run_commands(self) -> int:
        """Claim and execute a batch of the device's commands; returns how many were claimed."""
        connected = self.device.status == DeviceStatus.CONNECTED and self.device.connection_state == "open"
        kinds = None if connected else LIFECYCLE_KINDS
        commands = DeviceCommand.claim(self.device.pk, kinds=kinds)
        batch = SendBatch(self.device, self.engine, self._connection_lost)
        messages = batch.prefetch(commands)
        for command in commands:
            if command.kind == CommandKind.SEND:
                batch.send(command, messages[command.message_id])
            else:  # keep the queue's order: what was sent before is recorded before the next command
                batch.flush()
                self._execute(command)
        batch.flush()
        if not connected and self.reconnect_at is None and not self.linking \
                and self.device.status != DeviceStatus.CONNECTED:
            self._fail_pending_sends(ErrorCode.MESSAGE_NOT_CONNECTED)
        return len(commands)

    def _fail_pending_sends(self, error: ErrorCode) -> None:
        pending = DeviceCommand.objects.filter(device=self.device, state="pending").exclude(kind__in=LIFECYCLE_KINDS)
        for command in pending:
            command.fail(error, "The device is not connected to WhatsApp.")
            if command.message_id:
                ingest.record_outbound(self.device, command.message, status=DeliveryStatus.FAILED,
                                       error_code=error.code)
                Approval.discard_unsent(self.device.pk, [command.message.wa_id])

    def _execute(self, command: DeviceCommand) -> None:
        try:
            handler = getattr(self, f"_cmd_{command.kind}")
            handler(command)
        except WhatsAppError as error:
            command.fail(error.code, str(error.message), error.details)
        except Exception as exc:
            logger.exception("device %s: command %s failed", self.device.pk, command)
            command.fail(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")

    def _cmd_link(self, command: DeviceCommand) -> None:
        if self.device.status == DeviceStatus.CONNECTED:
            raise WhatsAppError(ErrorCode.QR_RESET_NOT_ALLOWED, details={"status": self.device.status})
        self.waiting_for_qr.append(command)
        self._start_linking()

    def _cmd_pair_phone(self, command: DeviceCommand) -> None:
        if self.device.status == DeviceStatus.CONNECTED:
            raise WhatsAppError(ErrorCode.QR_RESET_NOT_ALLOWED, details={"status": self.device.status})
        if self.linking and self.device.qr_code:
            self._pair_phone(command)
        else:
            self.waiting_for_qr.append(command)
            self._start_linking()

    def _start_linking(self) -> None:
        if self.linking:
            if self.device.qr_code:
                self._answer_qr_waiters()
            return
        if self.engine.has_session():
            self.engine.logout()  # a new QR means a new link: the old session cannot come back
        self.linking = True
        self.device.set_connection_state(ConnectionState.CONNECTING)
        try:
            self.engine.connect()
        except WhatsAppError as error:
            self._end_linking(error.code)

    def _pair_phone(self, command: DeviceCommand) -> None:
        try:
            code = self.engine.pair_phone(command.payload["phone"])
        except WhatsAppError as error:
            command.fail(error.code, str(error.message), error.details)
            return
        command.succeed({"code": code, "qr_expires_at": self.device.qr_expires_at})

    def _cmd_logout(self, command: DeviceCommand) -> None:
        self._logout_quietly()
        self.linking, self.reconnect_at = False, None
        if self.device.status in (DeviceStatus.CONNECTED, DeviceStatus.QR_GENERATED):
            self.device.mark_disconnected(None, permanent=False, reason="logout", session_cleared=True)
        command.succeed({"status": self.device.status})

    def _cmd_react(self, command: DeviceCommand) -> None:
        p = command.payload
        result = self.engine.react(p["chat_jid"], p["target_wa_id"], p.get("target_sender_jid", ""), p["emoji"],
                                   wa_id=p["wa_id"])
        command.succeed(to_jsonable(result))

    def _cmd_edit(self, command: DeviceCommand) -> None:
        p = command.payload
        command.succeed(to_jsonable(self.engine.edit(p["chat_jid"], p["target_wa_id"], p["text"], wa_id=p["wa_id"])))

    def _cmd_revoke(self, command: DeviceCommand) -> None:
        p = command.payload
        result = self.engine.revoke(p["chat_jid"], p["target_wa_id"], p.get("target_sender_jid", ""),
                                    wa_id=p["wa_id"])
        command.succeed(to_jsonable(result))

    def _cmd_mark_read(self, command: DeviceCommand) -> None:
        from django.utils.dateparse import parse_datetime

        p = command.payload
        self.engine.mark_read(p["chat_jid"], p["sender_jid"], list(p["wa_ids"]), parse_datetime(p["timestamp"]))
        command.succeed({})

    def _cmd_call(self, command: DeviceCommand) -> None:
        method = command.payload.get("method", "")
        if method in RUNNER_CALLS:
            value = RUNNER_CALLS[method](self.engine, self.device, **command.payload.get("args", {}))
            command.succeed({"value": to_jsonable(value)})
            return
        if method not in CALLABLE:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"unknown device operation {method!r}")
        result = getattr(self.engine, method)(**command.payload.get("args", {}))
        command.succeed({"value": to_jsonable(result)})
