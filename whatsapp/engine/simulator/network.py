"""The shared network state and the phone's side of it.

``manage.py simulate`` (another process) and the engine (inside the device runner) meet only in the
database: the phone writes :class:`PhoneAction` rows and waits for their result; the engine claims each
row once, applies it and writes the result. Faults that strike later are :class:`SimFault` rows; what the
device sent is read back from :class:`NetworkRecord`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import F
from django.utils import timezone

from whatsapp import wakeups
from whatsapp.engine.simulator import changes
from whatsapp.engine.simulator.db import retrying
from whatsapp.engine.simulator.models import (
    MediaBlob,
    NetworkRecord,
    PhoneAction,
    SimDeviceState,
    SimFault,
    SimSession,
    WorldVersion,
)
from whatsapp.errors import WhatsAppError

DEFAULT_WAIT_S = 10.0
POLL_INTERVAL_S = 0.05

# Faults the engine applies at once (they need the live connection to emit events).
IMMEDIATE_FAULTS = ("drop", "ban", "temp-ban", "logout")
# Faults stored for the next operations of the device: they wait even when no runner is up.
STORED_FAULTS = ("timeout", "rate-limit", "posting-restricted", "479", "463", "silent")
FAULT_KINDS = IMMEDIATE_FAULTS + STORED_FAULTS
# A stored fault kind for "the next N connect() attempts drop" (set by ``drop --count N``).
CONNECT_DROP = "connect-drop"
TEMP_BAN = "temp-ban"
# An action with no effect but its answer: once the engine answered it, its caches reflect every fault
# stored before it (see ``store_fault``).
SYNC = "sync"
SYNC_WAIT_S = 2.0


class SimulationError(Exception):
    """A phone-side operation failed; ``body`` is the JSON error object to print."""

    def __init__(self, body: dict[str, Any], returncode: int = 1) -> None:
        self.body = body
        self.returncode = returncode
        error = body.get("error", {})
        super().__init__(error.get("message") or json.dumps(body))

    @classmethod
    def plain(cls, message: str, returncode: int = 1, **details: Any) -> SimulationError:
        body: dict[str, Any] = {"error": {"message": message}}
        if details:
            body["error"]["details"] = details
        return cls(body, returncode)


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON error object stored on a failed action (and printed by ``simulate``)."""
    if isinstance(exc, WhatsAppError):
        return exc.to_rest(None)
    return {"error": {"message": str(exc) or type(exc).__name__}}


# --- devices ---------------------------------------------------------------------------------


def resolve_device(ref: str) -> uuid.UUID:
    """A device UUID from its id or its name (unique among the gateway's non-destroyed devices)."""
    try:
        return uuid.UUID(str(ref))
    except ValueError:
        pass
    from whatsapp.models import Device, DeviceStatus  # the gateway's table, read only to resolve names

    ids = list(Device.objects.filter(name=ref).exclude(status=DeviceStatus.DESTROYED).values_list("id", flat=True))
    if not ids:
        raise SimulationError.plain(f"no device named {ref!r}")
    if len(ids) > 1:
        raise SimulationError.plain(f"device name {ref!r} is ambiguous; use an id",
                                    candidates=[str(i) for i in ids])
    return ids[0]


# --- actions: the phone's side ---------------------------------------------------------------


def submit(device_id: uuid.UUID | str, action: str, payload: dict[str, Any] | None = None) -> PhoneAction:
    """Store the phone's action and wake the device's engine (once the row is committed)."""
    created = retrying(lambda: PhoneAction.objects.create(device_id=device_id, action=action, payload=payload or {}))
    wakeups.notify_on_commit("sim", changes.device_key(device_id))
    return created


def wait(action: PhoneAction, timeout_s: float = DEFAULT_WAIT_S) -> dict[str, Any]:
    """The result of an action once the engine handled it; SimulationError when it failed or when no
    engine claimed it in time (the row is then cancelled so that a later runner does not replay it)."""
    deadline = time.monotonic() + timeout_s
    grace = deadline + max(2.0, timeout_s)  # a claimed action gets a little longer to finish
    while True:
        row = retrying(lambda: PhoneAction.objects.filter(pk=action.pk).first(), atomic=False)
        if row is None:
            raise SimulationError.plain(f"action {action.pk} disappeared")
        if row.handled_at is not None:
            if row.error:
                raise SimulationError(json.loads(row.error))
            return row.result if row.result is not None else {}
        now = time.monotonic()
        if now > deadline and row.claimed_at is None:
            cancelled = retrying(lambda: PhoneAction.objects.filter(
                pk=action.pk, claimed_at__isnull=True, handled_at__isnull=True,
            ).update(handled_at=timezone.now(), error=json.dumps(_no_runner(action, timeout_s))))
            if cancelled:
                raise SimulationError(_no_runner(action, timeout_s), returncode=3)
        elif now > grace:
            raise SimulationError.plain(f"the engine claimed action {action.pk} but did not finish it",
                                        returncode=3)
        time.sleep(POLL_INTERVAL_S)


def _no_runner(action: PhoneAction, timeout_s: float) -> dict[str, Any]:
    return {"error": {
        "message": f"no engine handled {action.action!r} for device {action.device_id} within {timeout_s:g} s: "
                   "is its device runner running with WHATSAPP_ENGINE=simulator?",
        "details": {"action_id": action.pk, "device_id": str(action.device_id)},
    }}


def perform(device_id: uuid.UUID | str, action: str, payload: dict[str, Any] | None = None,
            timeout_s: float = DEFAULT_WAIT_S) -> dict[str, Any]:
    """Submit an action and wait for its result."""
    return wait(submit(device_id, action, payload), timeout_s)


# --- actions: the engine's side --------------------------------------------------------------


def _column(model: Any, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@dataclass(frozen=True)
class PollState:
    """What one poll tick learned: the next action to claim, an action held while offline, and
    stamps that change whenever the device's faults or the world change (so caches can be trusted)."""

    next_action: int | None
    held_action: int | None
    fault_stamp: tuple[Any, ...]
    world_version: int | None


def poll_state(device_id: str) -> PollState:
    """The engine's look at the network for one device: the actions to claim, and whether its cached
    faults or world entries may be stale. One round trip; nothing is locked or written."""
    device = PhoneAction._meta.get_field("device_id").get_db_prep_value(uuid.UUID(str(device_id)), connection)
    actions, faults, version = _table(PhoneAction), _table(SimFault), _table(WorldVersion)
    a_id, a_device = _column(PhoneAction, "id"), _column(PhoneAction, "device_id")
    f_id, f_device = _column(SimFault, "id"), _column(SimFault, "device_id")
    sql = (
        f"SELECT (SELECT MIN({a_id}) FROM {actions} WHERE {a_device} = %s AND {_column(PhoneAction, 'handled_at')} "
        f"IS NULL AND {_column(PhoneAction, 'claimed_at')} IS NULL), "
        f"(SELECT MIN({a_id}) FROM {actions} WHERE {a_device} = %s AND {_column(PhoneAction, 'deferred')} = %s), "
        f"(SELECT COUNT(*) FROM {faults} WHERE {f_device} = %s), "
        f"(SELECT MAX({f_id}) FROM {faults} WHERE {f_device} = %s), "
        f"(SELECT SUM({_column(SimFault, 'remaining')}) FROM {faults} WHERE {f_device} = %s), "
        f"(SELECT {_column(WorldVersion, 'version')} FROM {version} WHERE {_column(WorldVersion, 'id')} = 1)"
    )

    def work() -> tuple[Any, ...]:
        with connection.cursor() as cursor:
            cursor.execute(sql, [device, device, True, device, device, device])
            return cursor.fetchone()

    row = retrying(work, atomic=False)
    return PollState(next_action=row[0], held_action=row[1], fault_stamp=(row[2], row[3], row[4]),
                     world_version=row[5])


def claim(pk: int) -> PhoneAction | None:
    """Claim the unclaimed action ``pk`` (None when another engine was first)."""
    claimed = retrying(lambda: PhoneAction.objects.filter(
        pk=pk, claimed_at__isnull=True, handled_at__isnull=True).update(claimed_at=timezone.now()), atomic=False)
    return retrying(lambda: PhoneAction.objects.get(pk=pk), atomic=False) if claimed else None


def claim_held(pk: int) -> PhoneAction | None:
    """Hand out the action ``pk`` held while offline (None when it is no longer held)."""
    taken = retrying(lambda: PhoneAction.objects.filter(pk=pk, deferred=True).update(deferred=False), atomic=False)
    return retrying(lambda: PhoneAction.objects.get(pk=pk), atomic=False) if taken else None


def has_unclaimed(device_id: str) -> bool:
    return retrying(lambda: PhoneAction.objects.filter(
        device_id=device_id, handled_at__isnull=True, claimed_at__isnull=True).exists(), atomic=False)


def finish(action: PhoneAction, result: dict[str, Any] | None = None, error: BaseException | None = None,
           *, deferred: bool = False) -> None:
    """Write the outcome of an action (``deferred``: accepted now, delivered on the next Connected)."""
    fields: dict[str, Any] = {"handled_at": timezone.now(), "result": result, "deferred": deferred,
                              "error": json.dumps(error_body(error)) if error is not None else ""}
    retrying(lambda: PhoneAction.objects.filter(pk=action.pk).update(**fields))


# --- faults ----------------------------------------------------------------------------------


def store_fault(device_id: uuid.UUID | str, kind: str, *, count: int = 1, seconds: float | None = None,
                until_s: float | None = None, detail: dict[str, Any] | None = None) -> SimFault:
    """Store a fault for the device's next operations. When the device is connected through an engine of
    another process, return only once that engine has taken the fault into account (its next send
    sees it); an engine of this process sees it at once, and one that is offline or not running reads
    its faults again when it connects."""
    until = timezone.now() + timedelta(seconds=until_s) if until_s is not None else None
    fault = retrying(lambda: SimFault.objects.create(device_id=device_id, kind=kind, remaining=max(1, count),
                                                     seconds=seconds, until=until, detail=detail or {}))
    changes.faults_changed(device_id)
    if not changes.hosted(device_id):
        _sync_with_engine(device_id)
    return fault


def _sync_with_engine(device_id: uuid.UUID | str) -> None:
    connected = retrying(lambda: SimDeviceState.objects.filter(device_id=device_id).values_list(
        "connected", flat=True).first(), atomic=False)
    if not connected:
        return
    with contextlib.suppress(SimulationError):  # its runner is gone (killed): the fault waits as before
        perform(device_id, SYNC, {}, timeout_s=SYNC_WAIT_S)


def take_fault(device_id: str, kinds: tuple[str, ...]) -> SimFault | None:
    """Consume one strike of the oldest pending fault among ``kinds`` (None when there is none)."""

    def work() -> SimFault | None:
        for fault in SimFault.objects.filter(device_id=device_id, kind__in=kinds, remaining__gt=0).order_by("id"):
            if SimFault.objects.filter(pk=fault.pk, remaining__gt=0).update(remaining=F("remaining") - 1):
                SimFault.objects.filter(pk=fault.pk, remaining=0).delete()
                return fault
        return None

    taken = retrying(work)
    if taken is not None:
        changes.faults_changed(device_id)
    return taken


def pending_fault_kinds(device_id: str) -> frozenset[str]:
    """The kinds of the device's pending faults (what the engine keeps in memory)."""
    return frozenset(retrying(lambda: list(SimFault.objects.filter(
        device_id=device_id, remaining__gt=0).values_list("kind", flat=True)), atomic=False))


def active_fault(device_id: str, kind: str) -> SimFault | None:
    """A pending fault of ``kind`` without consuming it (time-bound ones only while they last)."""

    expired = [0]

    def work() -> SimFault | None:
        expired[0] = SimFault.objects.filter(device_id=device_id, kind=kind, until__lte=timezone.now()).delete()[0]
        return SimFault.objects.filter(device_id=device_id, kind=kind, remaining__gt=0).order_by("id").first()

    found = retrying(work)
    if expired[0]:
        changes.faults_changed(device_id)
    return found


def clear_faults(device_id: str, kinds: tuple[str, ...]) -> int:
    cleared = retrying(lambda: SimFault.objects.filter(device_id=device_id, kind__in=kinds).delete()[0])
    if cleared:
        changes.faults_changed(device_id)
    return cleared


# --- media -----------------------------------------------------------------------------------


def store_media(data: bytes, mime_type: str) -> dict[str, Any]:
    """Keep the bytes on the "media servers"; returns size, sha256 and the locator to download them."""
    token = secrets.token_urlsafe(24)
    digest = hashlib.sha256(data).hexdigest()
    retrying(lambda: MediaBlob.objects.create(token=token, mime_type=mime_type, size=len(data), sha256=digest,
                                              data=data))
    direct_path = f"/v/t62.7118-24/{secrets.randbelow(10**8)}_{secrets.randbelow(10**16)}_n.enc"
    return {"size": len(data), "sha256": digest,
            "locator": {"blob": token, "direct_path": direct_path, "media_key": secrets.token_hex(32)}}


def expire_media(token: str) -> int:
    return retrying(lambda: MediaBlob.objects.filter(token=token).update(expired=True))


# --- reading back ----------------------------------------------------------------------------


def records(device_id: uuid.UUID | str, since: int = 0, kind: str = "") -> list[dict[str, Any]]:
    """What the network received from the device after record ``since``, oldest first."""
    query = NetworkRecord.objects.filter(device_id=device_id, id__gt=since)
    if kind:
        query = query.filter(kind=kind)
    return retrying(lambda: [record.as_dict() for record in query.order_by("id")], atomic=False)


def status(device_id: uuid.UUID | str) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        session = SimSession.objects.filter(device_id=device_id).first()
        state = SimDeviceState.objects.filter(device_id=device_id).first()
        pending = PhoneAction.objects.filter(device_id=device_id, handled_at__isnull=True)
        return {
            "device_id": str(device_id),
            "session": session.as_dict() if session else None,
            "state": state.as_dict() if state else None,
            "pending_actions": [{"id": a.pk, "action": a.action, "claimed": a.claimed_at is not None}
                                for a in pending.order_by("id")],
            "held_offline": PhoneAction.objects.filter(device_id=device_id, deferred=True).count(),
            "faults": [f.as_dict() for f in SimFault.objects.filter(device_id=device_id, remaining__gt=0)],
        }

    return retrying(work, atomic=False)
