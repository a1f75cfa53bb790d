"""How an engine knows its cached view of the network is stale.

An engine keeps the pending faults of its device and the world entries it looked up in memory, so that a
send costs no reads. Two kinds of change make those caches stale:

* changes made in this process (``store_fault`` from a test or an in-process ``simulate``, a group the
  engine edits, a contact added while handling an action…) bump a process-local generation once they
  are committed: the very next lookup sees it, with no query;
* changes made by another process are seen by the engine's poller, whose one query per tick also reads
  the device's fault stamp and the world's :class:`~.models.WorldVersion` (bumped here after every
  committed world save, which then wakes every connected device's poller: pollers with wake-ups only
  look when woken, see :mod:`whatsapp.wakeups`). ``network.store_fault`` from another process
  additionally waits for the live engine to acknowledge it (a ``sync`` action, which wakes it), so the
  next send sees a stored fault exactly as before.

A generation is read before the data it guards is loaded, so a change committed during a load is never
cached under the new generation.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from whatsapp import wakeups
from whatsapp.engine.simulator.db import retrying
from whatsapp.engine.simulator.models import SimDeviceState, WorldContact, WorldGroup, WorldVersion

log = logging.getLogger(__name__)

_counter = itertools.count(1)  # next() is atomic under the GIL: every bump gets a new value
_fault_generations: dict[str, int] = {}
_world_generation = [0]
_hosted: dict[str, int] = {}  # device key -> engines of this process that host it
_hosted_lock = threading.Lock()


def device_key(device_id: uuid.UUID | str) -> str:
    return str(uuid.UUID(str(device_id)))


# --- engines of this process -----------------------------------------------------------------


def host(device_id: uuid.UUID | str) -> None:
    """An engine of this process now hosts the device (it sees this process's changes at once)."""
    key = device_key(device_id)
    with _hosted_lock:
        _hosted[key] = _hosted.get(key, 0) + 1


def unhost(device_id: uuid.UUID | str) -> None:
    key = device_key(device_id)
    with _hosted_lock:
        left = _hosted.get(key, 0) - 1
        if left > 0:
            _hosted[key] = left
        else:
            _hosted.pop(key, None)


def hosted(device_id: uuid.UUID | str) -> bool:
    return device_key(device_id) in _hosted


# --- faults ----------------------------------------------------------------------------------


def fault_generation(device_id: str) -> int:
    """Changes to the device's faults made by this process (``device_id`` as :func:`device_key` gives it)."""
    return _fault_generations.get(device_id, 0)


def faults_changed(device_id: uuid.UUID | str) -> None:
    """The device's faults changed (or will, when the current transaction commits)."""
    key = device_key(device_id)

    def bump() -> None:
        _fault_generations[key] = next(_counter)

    bump()  # now, for this thread's own transaction; again once committed, for the other threads
    transaction.on_commit(bump)


# --- the world -------------------------------------------------------------------------------


def world_generation() -> int:
    return _world_generation[0]


def world_changed() -> None:
    """A contact or group changed: tell this process's engines (now, and again once committed), then
    the other processes' (after the commit)."""
    _world_generation[0] = next(_counter)
    transaction.on_commit(_publish_world_change)


def _publish_world_change() -> None:
    _world_generation[0] = next(_counter)
    try:
        retrying(_bump_world_version, atomic=False)
    except Exception:  # the change itself is committed; other processes then see it on a later change
        log.exception("could not bump the simulated world's version")
        return
    # Engines of other processes poll only when woken: wake the live ones to read the new version.
    for device_id in retrying(lambda: list(SimDeviceState.objects.filter(connected=True).values_list(
            "device_id", flat=True)), atomic=False):
        wakeups.notify("sim", device_key(device_id))


def _bump_world_version() -> None:
    # A single-row UPDATE in its own transaction, after the change committed: it holds no other lock,
    # so two processes editing the world never deadlock on it.
    if WorldVersion.objects.filter(pk=1).update(version=F("version") + 1):
        return
    try:
        with transaction.atomic():
            WorldVersion.objects.create(pk=1, version=1)
    except IntegrityError:  # created by another process meanwhile
        WorldVersion.objects.filter(pk=1).update(version=F("version") + 1)


@receiver(post_save, sender=WorldContact, dispatch_uid="simulator-world-contact-saved")
@receiver(post_save, sender=WorldGroup, dispatch_uid="simulator-world-group-saved")
@receiver(post_delete, sender=WorldContact, dispatch_uid="simulator-world-contact-deleted")
@receiver(post_delete, sender=WorldGroup, dispatch_uid="simulator-world-group-deleted")
def _world_saved(sender: Any, **kwargs: Any) -> None:
    world_changed()
