"""REST API benchmark (issue 4): accepted text sends per second and their latency, with
``Prefer: respond-async``, on PostgreSQL + Redis with the simulator engine.

    .venv/bin/python bench/api.py                       # daphne, 10 s of load, 32 connections
    .venv/bin/python bench/api.py --server uvicorn --workers 2

It builds a fresh PostgreSQL database (dropped afterwards), starts the web server and a fleet (whose
runner sends what the API accepts, as in production), links one device by scanning its QR through the
simulator, then drives ``POST /devices/{id}/messages`` from an asyncio client with keep-alive
connections. Prints one human line per figure and, last, one JSON line with every figure.
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
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--workers", type=int, default=1, help="Web worker processes (uvicorn only).")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    return parser.parse_args()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


async def load(base: str, token: str, device_id: str, connections: int, seconds: float,
               warmup: float) -> tuple[list[float], int, int, float]:
    """Every connection sends back to back; latencies of the measured window only."""
    latencies: list[float] = []
    errors = 0
    counted = 0
    body = {"to": "+15145550101", "text": "bench"}
    headers = {"Authorization": f"Bearer {token}", "Prefer": "respond-async"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        measure_from, stop_at = start + warmup, start + warmup + seconds

        async def worker() -> None:
            nonlocal errors, counted
            while (now := time.perf_counter()) < stop_at:
                response = await client.post(f"/devices/{device_id}/messages", json=body)
                done = time.perf_counter()
                if now >= measure_from:
                    counted += 1
                    if response.status_code == 202:
                        latencies.append(done - now)
                    else:
                        errors += 1
                        if errors <= 3:
                            print(f"error {response.status_code}: {response.text[:300]}", file=sys.stderr)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors, counted, seconds


def main() -> None:
    args = parse_args()
    import psycopg

    workdir = Path(tempfile.mkdtemp(prefix="wag-api-bench-"))
    database = f"wag_api_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=str(workdir), WHATSAPP_ENGINE="simulator", SIMULATOR_TIME_SCALE="0.2",
               SECRET_KEY="bench-" + "x" * 40, LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings",
               DATABASE_URL=f"{args.postgres}/{database}", REDIS_URL=args.redis, API_RATE_LIMIT_PER_MIN="0")
    os.environ.update(env)
    processes: list[subprocess.Popen] = []
    figures: dict[str, object] = {"server": args.server, "workers": args.workers, "connections": args.connections}
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        import django

        django.setup()
        from whatsapp.engine.simulator import network
        from whatsapp.models import App, Device, Message, Tenant

        tenant = Tenant.objects.create(name="Bench", slug="bench")
        _, token = App.create_with_token(tenant, "bench")
        if args.server == "daphne":
            web = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
        else:
            web = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--workers",
                   str(args.workers), "--no-access-log", "--log-level", "warning", "config.asgi:application"]
        fleet = [sys.executable, "manage.py", "run_fleet", "--name", "bench"]
        for name, command in (("web", web), ("fleet", fleet)):
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                              stderr=open(workdir / f"{name}.log", "wb"),  # noqa: SIM115
                                              start_new_session=True))
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, 60, "web up")
        auth = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/devices", json={"device_name": "bench"}, headers=auth, timeout=60)
        assert created.status_code == 201, created.text
        device_id = created.json()["data"]["device_id"]
        network.submit(device_id, "scan", {"phone": "15146000001"})
        wait_for(lambda: Device.objects.get(pk=device_id).status == "connected", 60, "device connected")

        latencies, errors, counted, seconds = asyncio.run(
            load(base, token, device_id, args.connections, args.seconds, args.warmup))
        latencies.sort()
        ms = [1000 * value for value in latencies]
        figures.update(
            accepted_per_s=round(len(latencies) / seconds), requests=counted, errors=errors,
            p50_ms=round(statistics.median(ms), 1), p99_ms=round(ms[int(0.99 * (len(ms) - 1))], 1),
            max_ms=round(ms[-1], 1),
            stored=Message.objects.filter(device_id=device_id, direction="out").count(),
        )
        print(f"accepted sends: {figures['accepted_per_s']}/s over {seconds:g} s with {args.connections} "
              f"connections ({args.server}, {args.workers} worker(s)); errors {errors}")
        print(f"latency: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms")
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
