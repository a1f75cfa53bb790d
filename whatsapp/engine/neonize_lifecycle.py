"""The neonize client's connection lifecycle: the one ``NewClient``, its connect thread, stopping it,
the QR window and pairing, login status, and the state every call into the Go core is gated on.

:class:`NeonizeLifecycle` is the base of :class:`~whatsapp.engine.neonize_engine.NeonizeEngine`
(which holds the port's operations). It owns the client and the event pump: Go's callbacks only
enqueue; one worker thread runs the state machine here and hands data events to the engine's
``_data_event``. The engine reaches the Go core only through :meth:`NeonizeLifecycle._call`.

neonize is imported lazily: loading it starts the Go runtime, which must never happen in a process
that later forks (neonize-notes P1).

Pitfalls of neonize 0.5.2 guarded against here (reference/neonize-notes.md):

* **Go panics abort the process** (P2): ``get_me()``, the stores, ``generate_message_id()`` (inside
  ``create_group``) and ``revoke_message`` dereference a client that exists only while Go holds it.
  Every FFI call goes through :meth:`~NeonizeLifecycle._call`, which answers ``MESSAGE_NOT_CONNECTED``
  unless Go has proved it holds the client (by calling back).
* **Unlocked global Go maps** (P3): ``Stop`` deletes from the map every call reads, so calls share
  :class:`_RWLock` and ``Stop`` takes it alone — after ``Disconnect`` made in-flight calls fail fast.
* **Blocking calls**: ``connect()`` blocks for the whole session (it runs on our thread; we return
  once the outcome is known or the dial is under way); ``stop()`` may block 60 s on a hung dial (P5),
  so ``disconnect`` waits a bounded time and the next ``connect`` waits for the rest.
* **Handlers must only enqueue** (§1.3): Go calls them on its pump thread with a 100-event buffer;
  ours queue the protobuf for a worker that converts it, calls the sink and makes any FFI call.
* **Silent event behaviour / uuid collisions** (P4, P6): handlers are registered before
  ``connect()``; one ``NewClient`` per engine for the process lifetime (a collected twin's
  ``weakref`` finalizer would ``Stop`` the live client).
* **"First device" resume**: the stored device's exact JID is passed, or ``new_device=True``;
  ``get_all_devices_from_db`` is bypassed (P9: a comma in a push name, or its ``error:`` answer,
  breaks its parser).
* **QR window**: neonize keeps blocking after the codes run out; its login-status callback (which
  ``print``\\ s a raw pointer, P8) is replaced to learn ``timeout``, with a watchdog as a backstop.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from whatsapp.engine import base
from whatsapp.engine import neonize_errors as errs
from whatsapp.engine import neonize_events as conv
from whatsapp.errors import ErrorCode, WhatsAppError

logger = logging.getLogger("whatsapp.engine.neonize")

QR_FIRST_S, QR_NEXT_S, QR_CODES = 60.0, 20.0, 6  # whatsapp-behaviour §1.1: a 160 s window
_CLEARED = frozenset({"revoked", "device_removed", "logged_out", "banned", "unlinked"})  # whatsmeow deletes these
_DATA_EVENTS = frozenset({"Message", "Receipt", "ChatPresence", "Presence", "HistorySync"})
_EVENT_CLASSES = ("PairStatusEv", "ConnectedEv", "KeepAliveTimeoutEv", "KeepAliveRestoredEv", "LoggedOutEv",
                  "StreamReplacedEv", "TemporaryBanEv", "ConnectFailureEv", "ClientOutdatedEv", "StreamErrorEv",
                  "DisconnectedEv", "HistorySyncEv", "MessageEv", "ReceiptEv", "ChatPresenceEv", "PresenceEv")


class _RWLock:
    """Any number of FFI calls at once, or one ``Stop`` alone; a waiting writer goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = self._waiting = 0
        self._writing = False

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers)
            self._waiting, self._writing = self._waiting - 1, True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def _not_connected(operation: str = "") -> WhatsAppError:
    return WhatsAppError(ErrorCode.MESSAGE_NOT_CONNECTED, details={"operation": operation} if operation else None)


def _spawn(target: Callable[..., Any], *args: Any) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


class NeonizeLifecycle(base.Engine):
    """The connection half of the neonize adapter: one client, its connect/stop/QR/pairing state
    machine, the event pump and the FFI gate. Reads the ``config.options`` listed on
    :class:`~whatsapp.engine.neonize_engine.NeonizeEngine`."""

    def __init__(self, config: base.EngineConfig, sink: base.EventSink) -> None:
        super().__init__(config, sink)
        opts = config.options
        self._connect_wait_s = float(opts.get("connect_wait_s", 3.0))
        self._stop_wait_s = float(opts.get("stop_wait_s", 5.0))
        self._pair_wait_s = float(opts.get("pair_wait_s", 15.0))
        self._qr_grace_s = float(opts.get("qr_grace_s", 10.0))
        self._proxy = str(opts.get("proxy", ""))
        self._lock = threading.RLock()  # guards the state below
        self._ffi = _RWLock()
        self._client: Any = None
        self._thread: threading.Thread | None = None  # the current connect thread
        self._started_at = 0.0
        self._stopper: threading.Thread | None = None
        self._gen = self._stopped_gen = 0  # connect generations; those <= _stopped_gen were stopped on purpose
        self._registered = self._logged_in = self._caller_waiting = self._keepalive_failing = False
        self._early_error: BaseException | None = None
        self._first_signal, self._qr_seen = threading.Event(), threading.Event()
        self._qr_count, self._qr_window_end, self._qr_open = 0, 0.0, False
        self._stream_error = ""
        self._session_jid = config.session_jid  # updated when pairing, so a reconnect resumes it
        self._stored: str | None = None  # stored device JID; "" none; None not looked up yet
        self._me: tuple[str, str, str] = ("", "", "")  # own device JID (with :device), LID, push name
        self._linked: set[tuple[str, str]] = set()
        self._inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name=f"neonize-events-{config.device_id}", daemon=True)
        self._worker.start()

    # --- connecting and stopping -------------------------------------------------------------------------

    def connect(self) -> None:
        """Start the client on a thread; return when it shows a QR, connects, fails, or after
        ``connect_wait_s`` with the dial under way. Fast failures (store, DNS, TLS…) raise."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and (self._logged_in or self._qr_open):
                return
        if not self._stop_client(self._stop_wait_s):  # never two Neonize() calls for one uuid
            raise WhatsAppError(ErrorCode.CONNECTION_TIMEOUT, "The previous connection is still closing (hung dial)",
                                details={"reason": "previous connection still closing"})
        client = self._ensure_client()
        resume = self._stored_device()
        with self._lock:
            self._gen += 1
            client.jid, client.new_device = (conv.to_jid(resume) if resume else None), not resume
            client.me = None  # neonize never resets it: after a relink it would name the old account
            self._registered = self._logged_in = self._keepalive_failing = self._qr_open = False
            self._qr_count, self._stream_error = 0, ""
            self._first_signal.clear()
            self._qr_seen.clear()
            self._early_error, self._caller_waiting = None, True
            self._thread = threading.Thread(target=self._run, args=(client, self._gen), daemon=True,
                                            name=f"neonize-connect-{self.config.device_id}")
            self._started_at = time.monotonic()
            self._thread.start()
        logger.info("device %s: connecting (%s)", self.config.device_id, f"resume {resume}" if resume else "link")
        self._first_signal.wait(self._connect_wait_s)
        with self._lock:
            self._caller_waiting = False
            error, self._early_error = self._early_error, None
        if error is not None:
            raise errs.classify(error, op="connect")

    def _ensure_client(self) -> Any:
        """The engine's one ``NewClient``, every handler registered before its first connect."""
        if self._client is None:
            from neonize import events
            from neonize.client import NewClient
            from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps

            logging.getLogger("neonize.utils.ffmpeg").setLevel(logging.ERROR)  # warns each connect; never used
            props = DeviceProps(os=self.config.display_name, platformType=DeviceProps.CHROME)
            client = NewClient(self.config.session_store, props=props, uuid=f"gw-{self.config.device_id}")
            client.event.qr(self._on_qr)
            client._NewClient__onLoginStatus = self._on_login_status  # instead of print(<raw pointer>)
            for name in _EVENT_CLASSES:
                client.event(getattr(events, name))(self._on_event)
            self._client = client
        return self._client

    def _run(self, client: Any, gen: int) -> None:
        """The connect thread: ``client.connect()`` returns when stopped or raises when it fails."""
        error: BaseException | None = None
        try:
            proxy = None
            if self._proxy:
                from neonize.client import ProxySettings

                proxy = ProxySettings(proxy_address=self._proxy)
            client.connect(proxy)
        except Exception as exc:  # NeonizeError, or whatever ctypes raised
            error = exc
        with self._lock:
            intentional = gen <= self._stopped_gen
            to_caller = self._caller_waiting and error is not None and gen == self._gen
            self._early_error = error if to_caller else self._early_error
            if gen == self._gen:
                self._registered = self._logged_in = False
        if not intentional:
            with contextlib.suppress(Exception), self._ffi.write():
                client.stop()  # a failed connect leaves the client in Go's maps
        self._first_signal.set()
        self._inbox.put(("ended", gen, error, intentional or to_caller))

    def _stop_client(self, wait_s: float | None, gen: int | None = None) -> bool:
        """``Disconnect`` then ``Stop`` the running client (only generation ``gen`` if given) on a
        helper thread, waiting up to ``wait_s`` for it — or for an earlier stop still blocked on a
        hung dial. True when no stop is running any more."""
        with self._lock:
            thread, client, registered, started = self._thread, self._client, self._registered, self._started_at
            if (thread is not None and thread.is_alive() and self._stopped_gen < self._gen
                    and gen in (None, self._gen)):
                self._stopped_gen, self._thread = self._gen, None
                self._registered = self._logged_in = self._qr_open = False

                def stop() -> None:
                    if registered:
                        with contextlib.suppress(Exception), self._ffi.read():
                            client.disconnect()
                    else:  # no callback yet: give Neonize() time to finish writing Go's maps
                        time.sleep(max(0.0, started + 0.5 - time.monotonic()))
                    with contextlib.suppress(Exception), self._ffi.write():
                        client.stop()
                    thread.join(10)

                self._stopper = threading.Thread(target=stop, name=f"neonize-stop-{self.config.device_id}",
                                                 daemon=True)
                self._stopper.start()  # assigned under the lock: a concurrent caller waits for it
            stopper = self._stopper
        if stopper is not None and stopper.is_alive():
            stopper.join(wait_s)
            if stopper.is_alive():
                logger.warning("device %s: neonize stop still running (hung dial)", self.config.device_id)
                return False
        return True

    def pair_phone(self, phone_digits: str) -> str:
        """A pairing code, once the linking socket is up (after the first QR; waits ``pair_wait_s``).

        The FFI gets our own ``PairPhoneParams``: neonize 0.5.2's ``PairPhone`` would send the
        display name ``CHROME (LINUX)`` (enum names) and may map the client type through its
        wrongly numbered ``ClientType``.
        """
        digits = "".join(ch for ch in phone_digits if ch.isascii() and ch.isdigit())
        if len(digits) <= 6 or digits.startswith("0"):
            raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, "The phone number must be international digits",
                                details={"field": "phone"})
        with self._lock:
            if self._logged_in:
                raise WhatsAppError(ErrorCode.QR_RESET_NOT_ALLOWED, "The device is already linked")
            linking = self._thread is not None and self._thread.is_alive()
        if not linking or not self._qr_seen.wait(self._pair_wait_s):
            raise _not_connected("pair_phone")
        from neonize.exc import PairPhoneError
        from neonize.proto.Neonize_pb2 import PairPhoneParams, PairPhoneReturnFunction

        payload = PairPhoneParams(phone=digits, showPushNotification=True, clientType=1,  # PairClientChrome
                                  clientDisplayName="Chrome (Linux)").SerializeToString()

        def pair(client: Any) -> str:
            model = PairPhoneReturnFunction.FromString(client._NewClient__client.PairPhone(client.uuid, payload,
                                                                                            len(payload)))
            if model.Error:
                raise PairPhoneError(model.Error)
            return model.Code

        return self._call(pair, op="pair", login=False)

    def disconnect(self) -> None:
        self._stop_client(self._stop_wait_s)

    def close(self) -> None:
        self.disconnect()
        self._inbox.put(("quit",))
        self._worker.join(2)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every event received so far has reached the sink (tests, orderly shutdown)."""
        done = threading.Event()
        self._inbox.put(("flush", done))
        return done.wait(timeout_s)


    # --- the stored device to resume ---------------------------------------------------------------------

    def _stored_device(self, refresh: bool = False) -> str:
        """The stored JID (``user:device@server``) of this device's session by ``session_jid`` (with
        or without device suffix), or "". Cached: each Go ``GetAllDevices`` leaks a DB pool."""
        with self._lock:
            if self._stored is not None and not refresh:
                return self._stored
            wanted = self._session_jid
        found = ""
        if wanted:
            user, _, server = wanted.partition("@")
            for jid in self._list_devices():
                stored_user, _, stored_server = jid.partition("@")
                if jid == wanted or (":" not in user and stored_user.partition(":")[0] == user
                                     and stored_server == server):
                    found = jid
                    break
        with self._lock:
            self._stored = found
        return found

    def _list_devices(self) -> list[str]:
        import neonize.client as nc

        raw = nc.gocode.GetAllDevices(self.config.session_store.encode(), nc.func_callback_bytes2(nc.log_whatsmeow))
        text = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        if text.startswith("error:"):
            code, facts = errs.classify_text(text, op="store", fallback=ErrorCode.SERVICE_UNAVAILABLE)
            raise WhatsAppError(code, "The WhatsApp session store is unavailable", details=facts.details())
        return [entry.split(",", 1)[0] for entry in text.split("|\u0001|") if entry.strip()]

    # --- calling the Go core ---------------------------------------------------------------------------

    def _call(self, fn: Callable[[Any], Any], *, op: str, group: bool = False, login: bool = True) -> Any:
        """One neonize call, only while Go holds the client (else ``MESSAGE_NOT_CONNECTED`` instead
        of an abort) and under the shared FFI lock; neonize errors are classified."""
        with self._ffi.read():
            with self._lock:
                if not self._registered or (login and not self._logged_in):
                    raise _not_connected(op)
                client = self._client
            try:
                return fn(client)
            except WhatsAppError:
                raise
            except Exception as exc:
                raise errs.classify(exc, op=op, group=group) from exc

    def _own(self) -> tuple[str, str]:
        """Own (phone JID, LID) without device; ``MESSAGE_NOT_CONNECTED`` until ``Connected``."""
        with self._lock:
            if not self._logged_in or not self._me[0]:
                raise _not_connected()
            return conv.jid_str(conv.to_jid(self._me[0])), self._me[1]

    # --- events: Go's thread only enqueues -------------------------------------------------------------

    def _on_event(self, _client: Any, event: Any) -> None:
        self._registered_by_go()
        self._inbox.put(("event", event, self._gen))

    def _on_qr(self, _client: Any, data: bytes) -> None:
        self._registered_by_go()
        self._inbox.put(("qr", data.decode(errors="replace"), time.time(), self._gen))

    def _on_login_status(self, _uuid: int, status: int) -> None:
        self._inbox.put(("login", ctypes.string_at(status).decode(errors="replace") if status else "", self._gen))

    def _registered_by_go(self) -> None:
        """A callback proves Go holds the client in its maps: FFI calls are safe from now on."""
        with self._lock:
            if self._thread is not None:
                self._registered = True
        self._first_signal.set()

    # --- events: the worker -----------------------------------------------------------------------------

    def _work(self) -> None:
        while (item := self._inbox.get())[0] != "quit":
            if item[0] == "flush":
                item[1].set()
                continue
            try:
                self._handle(item)
            except Exception:
                logger.exception("device %s: failed to handle a neonize %s", self.config.device_id, item[0])

    def _emit(self, event: base.EngineEvent) -> None:
        if isinstance(event, base.IdentityLinked):
            with self._lock:
                if (event.phone_jid, event.lid) in self._linked:
                    return
                if len(self._linked) > 10_000:
                    self._linked.clear()
                self._linked.add((event.phone_jid, event.lid))
        try:
            self.sink(event)
        except Exception:
            logger.exception("device %s: the event sink failed on %s", self.config.device_id, type(event).__name__)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "event":
            self._event(item[1], item[2])
        elif kind == "qr":
            self._qr(item[1], item[2], item[3])
        elif kind == "qr_watchdog" and item[1:] == (self._gen, self._qr_count) and self._qr_open:
            self._close_qr_window("watchdog", item[1])
        elif kind == "login" and item[2] == self._gen:
            self._login_status(item[1], item[2])
        elif kind == "ended" and item[1] == self._gen and not item[3]:
            error = item[2]
            code = errs.classify(error, op="connect").code if error is not None else ErrorCode.CONNECTION_LOST
            self._emit(base.ConnectionLost(error=code, detail=errs.error_text(error) if error else "client stopped"))


    # --- the lifecycle state machine ----------------------------------------------------------------------

    def _qr(self, code: str, at: float, gen: int) -> None:
        """First code of a window lives 60 s, each rotation 20 s; six codes make the 160 s window."""
        with self._lock:
            if self._logged_in or self._thread is None or gen != self._gen:
                return
            index, self._qr_count, self._qr_open = self._qr_count, self._qr_count + 1, True
            valid = QR_FIRST_S if index == 0 else QR_NEXT_S
            if index == 0:
                self._qr_window_end = at + QR_FIRST_S + (QR_CODES - 1) * QR_NEXT_S
            self._qr_window_end = max(self._qr_window_end, at + valid)
            ends = datetime.fromtimestamp(self._qr_window_end, UTC)
        self._qr_seen.set()
        timer = threading.Timer(valid + self._qr_grace_s, self._inbox.put, args=(("qr_watchdog", gen, index + 1),))
        timer.daemon = True
        timer.start()
        self._emit(base.QRCodeIssued(code=code, valid_for_s=valid, window_ends_at=ends))

    def _close_qr_window(self, why: str, gen: int) -> None:
        with self._lock:
            was_open, self._qr_open = self._qr_open, False
        if was_open:
            logger.info("device %s: QR window closed (%s)", self.config.device_id, why)
            self._emit(base.QRWindowClosed())
            _spawn(self._stop_client, 0, gen)  # neonize would keep blocking on a dead linking socket

    def _login_status(self, status: str, gen: int) -> None:
        """neonize's QR-channel status: ``timeout`` (codes ran out), ``error`` (pairing failed) and
        ``err-client-outdated`` end linking; ``success`` is followed by ``PairStatus``."""
        if status in ("timeout", "error"):
            self._close_qr_window(status, gen)
        elif status == "err-client-outdated":
            self._permanent(errs.disconnect_event("ClientOutdated", None), gen)
        elif status and status != "success":
            logger.info("device %s: QR channel event %s", self.config.device_id, status)

    def _permanent(self, event: base.LoggedOut | base.TemporarilyBanned, gen: int) -> None:
        """A disconnect whatsmeow will not retry: report it and release the client."""
        with self._lock:
            self._logged_in = self._qr_open = False
            if isinstance(event, base.LoggedOut) and event.reason in _CLEARED:
                self._session_jid, self._stored = "", ""  # whatsmeow deleted the session (§3)
        self._emit(event)
        _spawn(self._stop_client, 0, gen)

    def _event(self, ev: Any, gen: int) -> None:
        """Data events are always delivered; lifecycle events of a client already stopped are
        dropped (acting on them could mark a dead client usable)."""
        name = type(ev).__name__
        if name in _DATA_EVENTS:
            return self._data_event(name, ev)
        if gen != self._gen or gen <= self._stopped_gen:
            return None
        disconnect = errs.disconnect_event(name, ev)
        if isinstance(disconnect, base.ConnectionLost):
            with self._lock:
                self._logged_in = False
            self._emit(disconnect)
        elif disconnect is not None:
            self._permanent(disconnect, gen)
        elif name == "PairStatus":
            self._paired(ev, gen)
        elif name == "Connected":
            self._connected()
        elif name == "KeepAliveTimeout" and self._logged_in and not self._keepalive_failing:
            self._keepalive_failing = True  # whatsmeow retries; report once per streak
            self._emit(base.ConnectionLost(error=ErrorCode.HEALTH_CHECK_FAILED,
                                           detail=f"keep-alive timeout ({ev.ErrorCount} failures)"))
        elif name == "KeepAliveRestored" and self._keepalive_failing and self._logged_in:
            self._keepalive_failing = False
            self._emit(base.Connected(phone_jid=self._own()[0], lid=self._me[1], push_name=self._me[2]))
        elif name == "StreamError":
            self._stream_error = ev.Code  # reported with the Disconnected that follows
        elif name == "Disconnected" and self._qr_open:
            self._close_qr_window("disconnected while linking", gen)
        elif name == "Disconnected" and self._logged_in:
            with self._lock:
                self._logged_in = False
            after = f" after stream error {self._stream_error}" if self._stream_error else ""
            self._emit(base.ConnectionLost(error=ErrorCode.CONNECTION_LOST, detail="websocket closed" + after))
        return None

    @abc.abstractmethod
    def _data_event(self, name: str, ev: Any) -> None:
        """Convert a data event (``_DATA_EVENTS``) and emit the port events; the engine's part."""

    def _paired(self, ev: Any, gen: int) -> None:
        from neonize.proto.Neonize_pb2 import PairStatus

        if ev.Status != PairStatus.SUCCESS:
            logger.warning("device %s: pairing failed: %s", self.config.device_id, ev.Error)
            return self._close_qr_window("pair error", gen)
        with self._lock:
            self._qr_open = False
            self._session_jid = self._stored = conv.jid_str(ev.ID, device=True)
        self._emit(base.Paired(phone_jid=conv.jid_str(ev.ID)))
        return None

    def _connected(self) -> None:
        """Learn our identity — ``client.me`` (Go's device event) or ``get_me()``, safe now that Go
        reported the connection — and report ``Connected``."""
        with self._lock:
            self._registered, self._keepalive_failing, self._qr_open = True, False, False
        me = self._client.me
        if me is None or not me.JID.User:
            me = self._call(lambda c: c.get_me(), op="connect", login=False)
        device_jid, phone, lid = conv.jid_str(me.JID, device=True), conv.jid_str(me.JID), conv.jid_str(me.LID)
        with self._lock:
            self._logged_in, self._me = True, (device_jid, lid, me.PushName)
            if device_jid:
                self._session_jid = self._stored = device_jid
        if phone and lid:
            self._emit(base.IdentityLinked(phone_jid=phone, lid=lid))
        self._emit(base.Connected(phone_jid=phone, lid=lid, push_name=me.PushName))
