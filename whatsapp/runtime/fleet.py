"""The fleet: supervises one runner subprocess per device it holds.

Every second it reconciles: devices that should run (work queued, linking, connected) and whose
lease it can take get a runner; leases of running devices are renewed; a runner that crashed is
restarted with exponential backoff; a runner whose lease was lost is stopped. Several fleets (on
several machines) share the devices this way, and when one dies its leases lapse and the others
take its devices over. On shutdown runners get SIGTERM (sessions are kept) and leases are released.

The fleet never imports an engine: runners are fresh ``python manage.py run_device`` processes.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections

from whatsapp.models import DeviceLease, ProcessHeartbeat
from whatsapp.services.devices import devices_to_run

logger = logging.getLogger("whatsapp.fleet")

RECONCILE_INTERVAL_S = 1.0
STOP_GRACE_S = 10.0
MAX_BACKOFF_S = 30.0
# Runners started per reconciliation (per second). A runner's start-up (imports, recovery, engine)
# is its busiest moment and holds a database connection; a hundred at once saturate the CPU and
# exceed PostgreSQL's connection limit, while a few per second start them about as fast.
SPAWN_PER_TICK = 6


@dataclass
class RunnerProcess:
    device_id: str
    process: subprocess.Popen | None = None
    failures: int = 0
    not_before: float = 0.0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Fleet:
    def __init__(self, *, name: str = "", capacity: int | None = None, engine: str = "") -> None:
        self.holder = name or f"fleet@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.capacity = capacity
        self.engine = engine
        self.runners: dict[str, RunnerProcess] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Run the reconciliation loop in a background thread."""
        self._thread = threading.Thread(target=self.run, name="fleet", daemon=True)
        self._thread.start()

    def run(self) -> None:
        logger.info("%s started", self.holder)
        try:
            while not self._stop.is_set():
                try:
                    self.reconcile()
                except Exception:
                    logger.exception("%s: reconciliation failed", self.holder)
                    close_old_connections()
                self._stop.wait(RECONCILE_INTERVAL_S)
        finally:
            self._stop_runners()

    def request_stop(self) -> None:
        """Ask the loop to end (signal-handler safe); ``run`` then stops the runners and returns."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_GRACE_S + 5)

    # --- reconciliation -------------------------------------------------------------------------

    def reconcile(self) -> None:
        now = time.monotonic()
        self._reap(now)
        running = [device_id for device_id, runner in self.runners.items() if runner.alive]
        kept = DeviceLease.renew_all(self.holder, running, settings.FLEET_LEASE_TTL_SEC) if running else set()
        for device_id in set(running) - kept:
            logger.warning("%s: lost the lease of %s; stopping its runner", self.holder, device_id)
            self._terminate(self.runners[device_id])
        wanted = [str(pk) for pk in devices_to_run().values_list("pk", flat=True)]
        spawned = 0
        for device_id in wanted:
            runner = self.runners.get(device_id)
            if runner is not None and (runner.alive or now < runner.not_before):
                continue
            if self.capacity is not None and sum(r.alive for r in self.runners.values()) >= self.capacity:
                break
            if spawned >= SPAWN_PER_TICK:
                break  # the rest at the next reconciliation
            if DeviceLease.acquire(device_id, self.holder, settings.FLEET_LEASE_TTL_SEC):
                self._spawn(runner or RunnerProcess(device_id))
                spawned += 1
        ProcessHeartbeat.beat(f"fleet:{self.holder}")

    def _reap(self, now: float) -> None:
        for device_id, runner in list(self.runners.items()):
            if runner.process is None or runner.alive:
                continue
            code = runner.process.returncode
            if code == 0:
                # A clean exit: the device needed no runner. Give its lease back.
                DeviceLease.release(device_id, self.holder)
                del self.runners[device_id]
                continue
            runner.failures += 1
            delay = min(MAX_BACKOFF_S, 2 ** (runner.failures - 1))
            runner.not_before = now + delay
            runner.process = None
            logger.warning("%s: runner of %s exited with %s; restart in %s s", self.holder, device_id, code, delay)

    def _spawn(self, runner: RunnerProcess) -> None:
        args = [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_device", runner.device_id,
                "--lease-holder", self.holder]
        if self.engine:
            args += ["--engine", self.engine]
        runner.process = subprocess.Popen(args, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL, close_fds=True)
        runner.started_at = time.monotonic()
        self.runners[runner.device_id] = runner
        logger.info("%s: started runner of %s (pid %s)", self.holder, runner.device_id, runner.process.pid)

    def _terminate(self, runner: RunnerProcess) -> None:
        if runner.alive:
            runner.process.terminate()

    def _stop_runners(self) -> None:
        alive = [r for r in self.runners.values() if r.alive]
        for runner in alive:
            runner.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for runner in alive:
            try:
                runner.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                runner.process.kill()
                runner.process.wait(timeout=5)
        for device_id in list(self.runners):
            try:
                DeviceLease.release(device_id, self.holder)
            except Exception:
                logger.exception("%s: could not release the lease of %s", self.holder, device_id)
        self.runners.clear()
        close_old_connections()
        logger.info("%s stopped", self.holder)
