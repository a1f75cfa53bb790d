"""Webhook delivery benchmark: deliveries per second to a local receiver, and event → delivery
latency, on PostgreSQL + Redis with a real Celery worker (target: ≥ 500 deliveries/s, p99 < 500 ms).

    .venv/bin/python bench/webhooks.py                                  # both modes, 10 devices, 10,000 events each
    .venv/bin/python bench/webhooks.py --mode steady --rate 300 --events 3000
    .venv/bin/python bench/webhooks.py --count-statements --py-spy var/bench-webhooks   # where the worker's time goes

It builds a fresh PostgreSQL database and a private Redis (both gone afterwards), migrates, and
starts two processes: a minimal asyncio HTTP/1.1 keep-alive receiver on 127.0.0.1 (answers 204 and
records each request's arrival time, ``X-WA-Request-ID``, ``device_id`` and ``sequence``) and
``celery -A config worker -Q default -P threads --concurrency 24``, whose bootstep runs the
webhook dispatcher. One app (webhook URL = the receiver, a webhook secret, so signing is paid for)
with ``--devices`` devices is created through the models, a few warm-up events are delivered, then:

* **steady**: ``--events`` message events appended by this process through ``DeviceEvent.append_many``
  on a schedule of ``--rate`` events/s (round-robin over the devices; a producer running late
  appends what is due in one call per device) — latency under a steady load;
* **burst**: the same number appended as fast as possible, ``--burst-batch`` per call — throughput.

Each mode waits until every delivery reached the receiver and every ``WebhookDelivery`` row is
``succeeded`` (at most ``--timeout`` s), then reports deliveries/s (deliveries received / time from
the first event appended to the last delivery received), latency (arrival minus the event's
``created_at``) p50/p95/p99/max, duplicates (one request id received twice), ordering violations
(a device's sequence lower than one it already delivered), missing deliveries, and CPU per delivery
of the worker, the PostgreSQL backends, the receiver and Redis. Prints one human line per figure
and, last, one JSON line with every figure.

``--count-statements`` runs the worker through ``bench/worker_probe.py`` (the same ``celery``
command with a counter on each SQL statement) and adds statements per delivery by thread (webhook
dispatcher, task threads), verb and table. ``--py-spy DIR`` samples the (first) worker with py-spy during
each measured mode (raw collapsed stacks in DIR; ``--py-spy-gil``: only the thread holding the GIL,
which is what bounds a ``-P threads`` worker) and prints where its samples went.
``--worker-wrapper SCRIPT`` runs the worker through a script of your own (to measure a patch).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import cpu_s, postgres_pids  # noqa: E402
from tests.support.processes import (  # noqa: E402
    BIN,
    PROJECT_ROOT,
    PYTHON,
    ProcessGroup,
    clean_env,
    free_port,
    fresh_postgres_database,
    private_redis,
    wait_until,
)

TEXT = "Hello from the webhook benchmark: a realistic inbound text message, about the size of a real one."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--events", type=int, default=10_000, help="Events per mode.")
    parser.add_argument("--rate", type=float, default=600.0, help="Offered events/s of the steady mode.")
    parser.add_argument("--concurrency", type=int, default=24, help="Threads of each Celery worker (the Procfile's).")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (each runs a dispatcher).")
    parser.add_argument("--mode", choices=("both", "steady", "burst"), default="both")
    parser.add_argument("--burst-batch", type=int, default=100, help="Events per append_many call in burst mode.")
    parser.add_argument("--endpoint-concurrency", type=int, default=None,
                        help="WEBHOOK_ENDPOINT_CONCURRENCY for the worker (default: the gateway's default).")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="Seconds each mode may take to deliver everything after its last event.")
    parser.add_argument("--count-statements", action="store_true",
                        help="Count the worker's SQL statements (runs it through bench/worker_probe.py).")
    parser.add_argument("--py-spy", metavar="DIR", help="Sample the worker with py-spy; raw stacks go to DIR.")
    parser.add_argument("--py-spy-gil", action="store_true", help="With --py-spy: sample the GIL holder only.")
    parser.add_argument("--worker-wrapper", metavar="SCRIPT",
                        help="A Python script run instead of `celery`, with celery's arguments (it ends by running "
                             "celery, e.g. through bench/worker_probe.py's main): to try a patched worker.")
    parser.add_argument("--serve-receiver", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args()


# --- the receiver (a process of its own) -------------------------------------------------------


def serve_receiver(port: int) -> None:
    """A minimal HTTP/1.1 keep-alive server: a POST is answered 204 and recorded as (arrival time,
    request id, body); ``GET /_count``, ``/_records`` and ``/_reset`` read and clear the records."""
    records: list[tuple[float, bytes, bytes]] = []
    unsigned = [0]

    def control(target: bytes) -> bytes:
        if target == b"/_reset":
            records.clear()
            unsigned[0] = 0
            return b"{}"
        if target == b"/_records":
            rows = []
            for arrived, request_id, body in records:
                data = json.loads(body)
                rows.append([arrived, request_id.decode(), data.get("device_id"), data.get("sequence")])
            return json.dumps({"records": rows, "unsigned": unsigned[0]}).encode()
        return json.dumps({"count": len(records)}).encode()

    class Receiver(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = bytearray()

        def data_received(self, data: bytes) -> None:
            arrived = time.time()
            buffer = self.buffer
            buffer += data
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                lines = bytes(buffer[:end]).split(b"\r\n")
                length, request_id, signed, close = 0, b"", False, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"x-wa-request-id":
                        request_id = value.strip()
                    elif name == b"x-wa-signature":
                        signed = True
                    elif name == b"connection":
                        close = value.strip().lower() == b"close"
                if len(buffer) < end + 4 + length:
                    return
                body = bytes(buffer[end + 4:end + 4 + length])
                del buffer[:end + 4 + length]
                method, target = lines[0].split(b" ")[:2]
                if method == b"POST":
                    records.append((arrived, request_id, body))
                    unsigned[0] += not signed
                    self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                else:
                    answer = control(target)
                    self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                         b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
                if close:
                    self.transport.close()
                    return

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(run())


class ReceiverClient:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=30, trust_env=False)

    def count(self) -> int:
        return self.client.get("/_count").json()["count"]

    def records(self) -> dict[str, Any]:
        return self.client.get("/_records").json()

    def reset(self) -> None:
        self.client.get("/_reset")


# --- measuring ---------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def message_payload(i: int, device: int) -> dict[str, Any]:
    """A ``message`` event payload shaped like ``whatsapp.services.payloads.message_payload`` (~500 bytes)."""
    return {
        "message_id": f"3EB0{i:016X}", "chat_jid": f"1514555{device:04d}@s.whatsapp.net", "is_group": False,
        "direction": "inbound", "is_from_me": False, "sender_jid": f"1514555{device:04d}@s.whatsapp.net",
        "sender_phone_jid": f"1514555{device:04d}@s.whatsapp.net", "sender_lid": f"2083{i:011d}@lid",
        "push_name": "Bench Sender", "type": "text", "text": f"{TEXT}#{i}", "caption": None,
        "quoted_message_id": None, "status": None, "timestamp": "2026-04-22T15:00:00.000Z", "from_history": False,
    }


def produce(device_ids: list[str], count: int, rate: float | None, batch: int) -> dict[str, float]:
    """Append ``count`` message events round-robin over the devices: on a schedule of ``rate``
    events/s (what is due is appended at once, one ``append_many`` per device), or, with no rate, as
    fast as possible in calls of ``batch`` events per device."""
    from whatsapp.models import DeviceEvent, EventType

    calls, behind = 0, 0.0
    started = time.time()
    if rate is None:
        per_device = [list(range(d, count, len(device_ids))) for d in range(len(device_ids))]
        for offset in range(0, max(map(len, per_device)), batch):
            for d, indices in enumerate(per_device):
                chunk = indices[offset:offset + batch]
                if chunk:
                    DeviceEvent.append_many(device_ids[d], [(EventType.MESSAGE, message_payload(i, d)) for i in chunk])
                    calls += 1
    else:
        i = 0
        while i < count:
            now = time.time()
            due = min(count, int((now - started) * rate) + 1)
            if due <= i:
                time.sleep(started + i / rate - now)
                continue
            behind = max(behind, now - (started + i / rate))
            grouped: dict[int, list[int]] = defaultdict(list)
            for n in range(i, due):
                grouped[n % len(device_ids)].append(n)
            for d, indices in grouped.items():
                DeviceEvent.append_many(device_ids[d], [(EventType.MESSAGE, message_payload(n, d)) for n in indices])
                calls += 1
            i = due
    finished = time.time()
    return {"started": started, "finished": finished, "calls": calls, "behind_max_s": behind}


def statement_counts(directory: Path | None) -> Counter[str]:
    """The statements every worker counted so far (``bench/worker_probe.py``, one file per worker)."""
    total: Counter[str] = Counter()
    for path in sorted(directory.glob("*.json")) if directory else ():
        total.update(json.loads(path.read_text()))
    return total


class PySpy:
    """``py-spy record`` of one process while a mode runs; raw collapsed stacks."""

    def __init__(self, pid: int, out: Path, gil: bool) -> None:
        self.out = out
        self.process = subprocess.Popen([str(BIN / "py-spy"), "record", "--pid", str(pid), "--rate", "250",
                                         "--format", "raw", "--output", str(out), "--nonblocking",
                                         *(["--gil"] if gil else [])],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.5)  # attached before the load starts

    def stop(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return summarize_stacks(self.out) if self.out.exists() else {}


def summarize_stacks(path: Path, top: int = 25) -> dict[str, Any]:
    """Share of the (non-idle) samples in which each function appears (inclusive) and is the leaf (self)."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [frame.split(" (", 1)[0] + " " + frame.rsplit("/", 1)[-1].split(":", 1)[0].rstrip(")")
                  for frame in stack.split(";")[1:]]  # the first frame is the thread
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            leaf[frames[-1]] += n
    share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {"samples": total, "inclusive_pct": {f: share(n) for f, n in inclusive.most_common(top)},
            "self_pct": {f: share(n) for f, n in leaf.most_common(15)}}


def run_mode(mode: str, args: argparse.Namespace, device_ids: list[str], receiver: ReceiverClient,
             pids: Callable[[], dict[str, list[int]]], probe: Path | None, spy_dir: Path | None) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from whatsapp.models import DeliveryState, DeviceEvent, WebhookDelivery

    receiver.reset()
    phase_start = timezone.now()
    spy = PySpy(pids()["worker"][0], spy_dir / f"worker-{mode}.txt", args.py_spy_gil) if spy_dir else None
    statements_before = statement_counts(probe)
    cpu_before = {name: cpu_s(group) for name, group in pids().items()}
    bench_cpu = time.process_time()
    produced = produce(device_ids, args.events, args.rate if mode == "steady" else None, args.burst_batch)
    bench_cpu = time.process_time() - bench_cpu
    deadline = time.monotonic() + args.timeout
    timed_out = False
    try:
        wait_until(lambda: receiver.count() >= args.events, max(0.1, deadline - time.monotonic()), interval=0.1,
                   what="every delivery received")
        open_rows = WebhookDelivery.objects.filter(created_at__gte=phase_start).exclude(state=DeliveryState.SUCCEEDED)
        wait_until(lambda: not open_rows.exists(), max(5.0, deadline - time.monotonic()), interval=0.1,
                   what="every delivery row succeeded")
    except AssertionError as error:
        timed_out = True
        print(f"{mode}: {error}", file=sys.stderr)
    cpu_after = {name: cpu_s(group) for name, group in pids().items()}
    if probe is not None:
        time.sleep(0.7)  # the probe writes its counts twice a second
    statements = statement_counts(probe) - statements_before
    profile = spy.stop() if spy else None

    created = {(str(device_id), sequence): moment.timestamp() for device_id, sequence, moment in
               DeviceEvent.objects.filter(created_at__gte=phase_start).values_list("device_id", "sequence",
                                                                                      "created_at")}
    states = Counter(WebhookDelivery.objects.filter(created_at__gte=phase_start).values_list("state", flat=True))
    connection.close()
    dump = receiver.records()
    seen: set[str] = set()
    duplicates = unexpected = violations = 0
    latencies: list[float] = []
    per_device: dict[str, list[float]] = defaultdict(list)
    last_sequence: dict[str, int] = {}
    for arrived, request_id, device_id, sequence in dump["records"]:
        if request_id in seen:
            duplicates += 1
            continue
        seen.add(request_id)
        moment = created.get((device_id, sequence))
        if moment is None:
            unexpected += 1
            continue
        latencies.append(1000 * (arrived - moment))
        per_device[device_id].append(latencies[-1])
        if sequence < last_sequence.get(device_id, 0):
            violations += 1
        last_sequence[device_id] = max(sequence, last_sequence.get(device_id, 0))
    received = len(latencies)
    arrivals = [row[0] for row in dump["records"]]
    span = (max(arrivals) - produced["started"]) if arrivals else float("nan")
    latencies.sort()
    cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
    figures: dict[str, Any] = {
        "events": len(created), "received": received, "missing": len(created) - received,
        "deliveries_per_s": round(received / span) if received else 0,
        "drain_per_s": round(received / (max(arrivals) - min(arrivals))) if received > 1 else 0,
        "offered_per_s": round(args.events / max(produced["finished"] - produced["started"], 1e-9)),
        "append_calls": produced["calls"], "producer_behind_max_s": round(produced["behind_max_s"], 3),
        "span_s": round(span, 2),
        "p50_ms": round(percentile(latencies, 0.50), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        # the median latency of the best and of the worst served device (streams starved by others show here)
        "device_p50_ms_min": round(min(map(statistics.median, per_device.values())), 1) if per_device else None,
        "device_p50_ms_max": round(max(map(statistics.median, per_device.values())), 1) if per_device else None,
        "duplicates": duplicates, "ordering_violations": violations, "unexpected": unexpected,
        "unsigned": dump["unsigned"], "rows_by_state": dict(states), "timed_out": timed_out,
        "cpu_ms_per_delivery": {name: round(1000 * seconds / received, 3) if received else None
                                for name, seconds in {**cpu, "producer": bench_cpu}.items()},
        "worker_cpu_s": round(cpu["worker"], 2),
    }
    if mode == "steady":
        figures["rate"] = args.rate
    if probe is not None and received:
        per = {key: round(n / received, 3) for key, n in statements.most_common()}
        figures["statements_per_delivery"] = {
            "worker_total": round(sum(statements.values()) / received, 2),
            "dispatcher": round(sum(n for k, n in statements.items() if k.startswith("dispatcher")) / received, 2),
            "tasks": round(sum(n for k, n in statements.items() if k.startswith("task")) / received, 2),
            "by_statement": per,
        }
    if profile:
        figures["py_spy"] = profile
    return figures


def report(mode: str, figures: dict[str, Any]) -> None:
    print(f"{mode}: {figures['received']}/{figures['events']} deliveries received, {figures['deliveries_per_s']}/s "
          f"(first event appended → last delivery received, {figures['span_s']} s; events offered at "
          f"{figures['offered_per_s']}/s; draining at {figures['drain_per_s']}/s)")
    print(f"{mode}: event → delivery latency p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
          f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms; per-device p50 from {figures['device_p50_ms_min']} "
          f"to {figures['device_p50_ms_max']} ms")
    print(f"{mode}: duplicates {figures['duplicates']}, ordering violations {figures['ordering_violations']}, "
          f"missing {figures['missing']}, unsigned {figures['unsigned']}, rows {figures['rows_by_state']}")
    print(f"{mode}: CPU ms per delivery {figures['cpu_ms_per_delivery']}")
    if "statements_per_delivery" in figures:
        spd = figures["statements_per_delivery"]
        print(f"{mode}: worker SQL statements per delivery {spd['worker_total']} (dispatcher {spd['dispatcher']}, "
              f"tasks {spd['tasks']}): {dict(list(spd['by_statement'].items())[:12])}")
    if figures.get("py_spy"):
        print(f"{mode}: py-spy worker samples {figures['py_spy']['samples']}; inclusive % "
              f"{figures['py_spy']['inclusive_pct']}; self % {figures['py_spy']['self_pct']}")


def main() -> None:
    args = parse_args()
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell may start a background job ignoring it
        signal.signal(signum, interrupted)  # clean up (processes, database) as on Ctrl-C
    workdir = Path(tempfile.mkdtemp(prefix="wag-webhooks-bench-"))
    spy_dir = Path(args.py_spy).resolve() if args.py_spy else None
    if spy_dir:
        spy_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"devices": args.devices, "events": args.events, "concurrency": args.concurrency,
                               "workers": args.workers, "nproc": os.cpu_count()}
    processes: list[ProcessGroup] = []
    with fresh_postgres_database() as database_url, private_redis(workdir) as (redis_url, redis):
        database = database_url.rsplit("/", 1)[1]
        env = clean_env(DATABASE_URL=database_url, REDIS_URL=redis_url, ALLOW_PRIVATE_URLS="true",
                        DATA_DIR=str(workdir / "data"), SECRET_KEY="bench-" + "x" * 40, LOG_LEVEL="WARNING",
                        DJANGO_SETTINGS_MODULE="config.settings")
        if args.endpoint_concurrency is not None:
            env["WEBHOOK_ENDPOINT_CONCURRENCY"] = str(args.endpoint_concurrency)
        probe = workdir / "statements" if args.count_statements else None  # a file of counts per worker
        if probe is not None:
            probe.mkdir()
        os.environ.clear()
        os.environ.update(env)
        try:
            port = free_port()
            processes.append(receiver_process := ProcessGroup(
                [PYTHON, str(Path(__file__).resolve()), "--serve-receiver", str(port)], env, workdir / "receiver.log"))
            subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], cwd=PROJECT_ROOT, env=env, check=True,
                           capture_output=True)
            import django

            django.setup()
            from django.db import connection

            from whatsapp.models import App, Device, DeviceEvent, EventType, Tenant

            receiver = ReceiverClient(f"http://127.0.0.1:{port}")
            wait_until(lambda: receiver.count() >= 0, 30, interval=0.1, what="the receiver")
            tenant = Tenant.objects.create(name="Bench", slug="bench")
            app, _ = App.create_with_token(tenant, "bench", webhook_url=f"http://127.0.0.1:{port}/webhooks",
                                           webhook_secret="whsec_" + uuid.uuid4().hex)
            device_ids = [str(Device.create(app, f"bench-{i:03d}").pk) for i in range(args.devices)]
            wrapper = args.worker_wrapper or (str(ROOT / "bench" / "worker_probe.py") if probe else None)
            workers = []
            for n in range(args.workers):
                command = [PYTHON, str(Path(wrapper).resolve())] if wrapper else [str(BIN / "celery")]
                command += ["-A", "config", "worker", "-Q", "default", "-n", f"bench-webhooks-{n}@%h", "-P", "threads",
                            "--concurrency", str(args.concurrency), "--loglevel", "WARNING"]
                own = {**env, "WORKER_PROBE_OUT": str(probe / f"{n}.json")} if probe else env
                workers.append(ProcessGroup(command, own, workdir / f"worker-{n}.log"))
            processes.extend(workers)
            worker = workers[0]

            def pids() -> dict[str, list[int]]:
                return {"worker": [w.process.pid for w in workers], "postgres": postgres_pids(database),
                        "receiver": [receiver_process.process.pid], "redis": [redis.process.pid]}

            # Warm-up: the worker is up, its connections (database, broker, receiver) are open.
            started = time.monotonic()
            for device_id in device_ids:
                DeviceEvent.append(device_id, EventType.MESSAGE, message_payload(0, 0))
            wait_until(lambda: receiver.count() >= len(device_ids), 90, interval=0.1,
                       what=f"the warm-up deliveries (worker log: {worker.log_path})")
            figures["warmup_s"] = round(time.monotonic() - started, 2)
            connection.close()
            time.sleep(1)
            print(f"worker up, warm-up delivered in {figures['warmup_s']} s; {args.devices} devices, "
                  f"{args.events} events per mode, {args.workers} worker(s) x {args.concurrency} threads")
            for mode in ("steady", "burst") if args.mode == "both" else (args.mode,):
                figures[mode] = run_mode(mode, args, device_ids, receiver, pids, probe, spy_dir)
                report(mode, figures[mode])
                time.sleep(1)
            for one in workers:
                if one.process.poll() is not None:
                    print(f"a worker exited early:\n{one.log()[-3000:]}", file=sys.stderr)
            steady, burst = figures.get("steady"), figures.get("burst")
            if burst:
                figures["target_throughput_met"] = burst["deliveries_per_s"] >= 500
            if steady:
                figures["target_p99_met"] = steady["p99_ms"] is not None and steady["p99_ms"] < 500
            print(f"targets: ≥ 500 deliveries/s (burst) {figures.get('target_throughput_met')}, "
                  f"p99 < 500 ms (steady) {figures.get('target_p99_met')}")
        except KeyboardInterrupt:
            print("interrupted; cleaning up", file=sys.stderr)
            figures["interrupted"] = True
        finally:
            for process in reversed(processes):
                process.stop()
            if "django" in sys.modules:
                from django.db import connections

                connections.close_all()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
