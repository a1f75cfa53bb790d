"""Fleet benchmark (issue 3): many simulator devices on one machine, one device's send throughput,
and recovery after ``kill -9`` of a runner.

    .venv/bin/python bench/fleet.py --devices 100                       # embedded SQLite
    .venv/bin/python bench/fleet.py --devices 40 --database postgres    # PostgreSQL + Redis

Prints one human line per figure and, last, one JSON line with every figure. It builds its own
database (a temporary SQLite file, or a fresh PostgreSQL database that it drops afterwards), starts
a real ``run_fleet`` process with the simulator engine, and plays the phones through the simulator's
network tables, exactly as ``manage.py simulate`` does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000, help="Messages for the one-device throughput run.")
    parser.add_argument("--clients", type=int, default=3,
                        help="Processes accepting those messages concurrently, as several API workers would.")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--timeout", type=float, default=600)
    return parser.parse_args()


def prepare_environment(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, str], str | None]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=str(workdir), WHATSAPP_ENGINE="simulator", SIMULATOR_TIME_SCALE="0.5",
               SECRET_KEY="bench-" + "x" * 40, LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings",
               SEND_WAIT_SECONDS="0")
    database = None
    if args.database == "postgres":
        import psycopg

        database = f"wag_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        env.update(DATABASE_URL=f"{args.postgres}/{database}", REDIS_URL=args.redis)
    os.environ.clear()
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    return env, database


def runner_processes() -> dict[str, int]:
    """device id -> pid of its run_device process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run_device" in argv:
            found[argv[argv.index(b"run_device") + 1].decode()] = int(entry.name)
    return found


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids(database: str | None) -> list[int]:
    """The PostgreSQL backends serving ``database`` (their process title names it)."""
    if not database:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f" {database} ".encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def transactions(connection: Any) -> int:
    """Transactions committed in the bench's PostgreSQL database so far, by every process."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def accept_messages(device_id: str, count: int, start_at: float, results: Any, release: Any) -> None:
    """One accepting client (a process of its own, like an API worker): ``count`` messages through
    ``send_message`` from ``start_at`` (wall clock) on; puts its finishing time and the CPU seconds it
    spent on ``results``, then waits for ``release``."""
    import django

    django.setup()
    from whatsapp.models import Device
    from whatsapp.services.messages import Outgoing, send_message

    device = Device.objects.get(pk=device_id)
    time.sleep(max(0.0, start_at - time.time()))
    cpu = time.process_time()
    for i in range(count):
        send_message(device, Outgoing(to="+15145550101", text=f"bench {os.getpid()} {i}"), wait_s=0)
    results.put((time.time(), time.process_time() - cpu))
    release.wait(600)  # keep the database connection (and its backend's CPU count) until measured


class ConnectionPeak:
    """The most PostgreSQL connections to the bench's database seen while it runs (sampled twice a
    second on a connection of its own, which it does not count)."""

    def __init__(self, url: str) -> None:
        import threading

        self.url, self.peak, self._stop = url, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(0.5):
                count = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND pid <> pg_backend_pid()").fetchone()[0]
                self.peak = max(self.peak, count)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(2)
        return self.peak


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "") -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wag-bench-"))
    env, database = prepare_environment(args, workdir)

    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from whatsapp.engine.simulator import network
    from whatsapp.models import CommandKind, DeliveryStatus, Device, DeviceCommand, DeviceEvent, Message, Tenant
    from whatsapp.models.tenancy import App

    fleet = subprocess.Popen([sys.executable, "manage.py", "run_fleet", "--name", "bench"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=open(workdir / "fleet.log", "wb"))  # noqa: SIM115
    figures: dict[str, object] = {"devices": args.devices, "database": args.database}
    try:
        bench_started = timezone.now()
        tenant = Tenant.objects.create(name="Bench", slug="bench")
        app, _ = App.create_with_token(tenant, "bench")

        # 1. link and connect N devices -------------------------------------------------------
        peak = ConnectionPeak(env["DATABASE_URL"]) if database else None
        started = time.monotonic()
        devices = [Device.create(app, f"bench-{i:03d}") for i in range(args.devices)]
        for device in devices:
            DeviceCommand.enqueue(device.pk, CommandKind.LINK, timeout_s=args.timeout)
        ids = [d.pk for d in devices]
        phones = {d.pk: f"1514600{i:04d}" for i, d in enumerate(devices)}
        scanned: set = set()

        def scan_new_qrs() -> bool:
            """Scan each QR as soon as it shows, as a person would (the window is short)."""
            for pk in Device.objects.filter(pk__in=ids).exclude(qr_code="").values_list("pk", flat=True):
                if pk not in scanned:
                    network.submit(pk, "scan", {"phone": phones[pk]})
                    scanned.add(pk)
            return len(scanned) == len(ids)

        wait_for(scan_new_qrs, args.timeout, what="every first QR")
        figures["first_qr_all_s"] = round(time.monotonic() - started, 1)
        wait_for(lambda: Device.objects.filter(pk__in=ids, status="connected", connection_state="open").count()
                 == len(ids), args.timeout, what="every device connected")
        figures["linked_and_connected_all_s"] = round(time.monotonic() - started, 1)
        print(f"{args.devices} devices linked and connected in {figures['linked_and_connected_all_s']} s "
              f"(first QR for all after {figures['first_qr_all_s']} s)")

        time.sleep(3)  # let start-up settle before measuring memory
        runners = runner_processes()
        rss = sorted(rss_mb(pid) for pid in runners.values())
        figures.update(runners=len(runners), rss_mb_min=round(rss[0], 1),
                       rss_mb_median=round(statistics.median(rss), 1), rss_mb_max=round(rss[-1], 1),
                       rss_mb_total=round(sum(rss), 1))
        print(f"RSS per runner: median {figures['rss_mb_median']} MB (min {figures['rss_mb_min']}, "
              f"max {figures['rss_mb_max']}); {len(runners)} runners, {figures['rss_mb_total']} MB in all")
        before = cpu_s(list(runners.values()))
        time.sleep(5)
        figures["idle_runners_cpu_percent"] = round((cpu_s(list(runners.values())) - before) * 100 / 5, 1)
        print(f"{len(runners)} idle runners use {figures['idle_runners_cpu_percent']}% of one core")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
                figures["postgres_connections"] = cursor.fetchone()[0]
            figures["postgres_connections_peak_linking"] = peak.stop()
            print(f"PostgreSQL connections for {args.devices} devices: {figures['postgres_connections']} at rest "
                  f"(peak while linking: {figures['postgres_connections_peak_linking']})")

        # 2. one device's throughput: accepted -> sent, accepted by several clients at once -------
        device = devices[0]
        clients = max(1, args.clients)
        spawn = multiprocessing.get_context("spawn")  # fresh processes: no inherited connections
        results, release = spawn.Queue(), spawn.Event()
        start_at = time.time() + 5  # every client set up and waiting by then
        shares = [args.messages // clients + (i < args.messages % clients) for i in range(clients)]
        workers = [spawn.Process(target=accept_messages, args=(str(device.pk), n, start_at, results, release))
                   for n in shares]
        for worker in workers:
            worker.start()
        runner_pid = runner_processes()[str(device.pk)]
        time.sleep(max(0.0, start_at - time.time()))
        cpu_before = cpu_s([runner_pid]), cpu_s(postgres_pids(database))
        transactions_before = transactions(connection)
        finished = [results.get(timeout=args.timeout) for _ in workers]
        accepted_s = max(at for at, _ in finished) - start_at
        queued = Message.objects.filter(device=device, status=DeliveryStatus.QUEUED)
        wait_for(lambda: not queued.exists(), args.timeout, interval=0.05, what="every message sent")
        total_s = time.time() - start_at
        runner_cpu, postgres_cpu = cpu_s([runner_pid]) - cpu_before[0], cpu_s(postgres_pids(database)) - cpu_before[1]
        release.set()
        for worker in workers:
            worker.join()
        if connection.vendor == "postgresql":
            time.sleep(2)  # backends report their statistics at most once a second
            figures["transactions_per_message"] = round((transactions(connection) - transactions_before)
                                                        / args.messages, 2)
        outbound = Message.objects.filter(device=device, direction="out", created_at__gte=bench_started)
        accepted = outbound.count()
        failed = outbound.filter(status=DeliveryStatus.FAILED).count()
        sends = DeviceCommand.objects.filter(device=device, kind=CommandKind.SEND, created_at__gte=bench_started)
        figures.update(messages=accepted, clients=clients, accept_per_s=round(accepted / accepted_s),
                       end_to_end_per_s=round(accepted / total_s),
                       sent_after_last_accept_s=round(total_s - accepted_s, 2), failed=failed,
                       commands_not_done=sends.exclude(state="done").count(),
                       # CPU per message, where it goes (less noisy than rates on a shared machine)
                       cpu_ms_per_message={"accept_clients": round(sum(c for _, c in finished) * 1000 / accepted, 2),
                                           "runner": round(runner_cpu * 1000 / accepted, 2),
                                           "postgres": round(postgres_cpu * 1000 / accepted, 2)})
        print(f"one device: {accepted} messages accepted by {clients} clients at {figures['accept_per_s']}/s, "
              f"accepted->sent end to end {figures['end_to_end_per_s']}/s ({failed} failed, all sent "
              f"{figures['sent_after_last_accept_s']} s after the last was accepted); CPU ms per message: "
              f"{figures['cpu_ms_per_message']}")

        # 3. kill -9 of a runner -> connected again ------------------------------------------------
        device = devices[1]
        before = DeviceEvent.objects.filter(device=device, type="device_connected").count()
        pid = runner_processes()[str(device.pk)]
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: DeviceEvent.objects.filter(device=device, type="device_connected").count() > before, 120,
                 interval=0.05, what="reconnection after kill -9")
        figures["kill9_to_connected_s"] = round(time.monotonic() - killed, 2)
        print(f"kill -9 of a runner -> device connected again in {figures['kill9_to_connected_s']} s")
    finally:
        fleet.send_signal(signal.SIGTERM)
        try:
            fleet.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fleet.kill()
        connection.close()
        if database:
            import psycopg

            with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
