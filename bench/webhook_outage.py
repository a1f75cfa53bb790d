"""A receiver down for minutes, then back (issue 5's "done when"), on PostgreSQL + Redis with a real
Celery worker and the production retry schedule (10 s, 30 s, 90 s, then 3 times longer with jitter).

    .venv/bin/python bench/webhook_outage.py                 # 5-minute outage (about 9 minutes in all)
    .venv/bin/python bench/webhook_outage.py --outage 60     # a shorter one

Events keep coming at ``--rate`` per second over ``--devices`` devices before, during and after the
outage (while it lasts the receiver's port refuses connections). Once every delivery succeeded it
checks what the receiver accepted: every event exactly once per ``X-WA-Request-ID``, each verified
with the Standard Webhooks library and with the documented ``X-WA-Signature`` HMAC, in ``sequence``
order per device, and reports how long after the receiver came back the backlog was drained. The
last line is JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.processes import (  # noqa: E402
    BIN,
    ProcessGroup,
    clean_env,
    fresh_postgres_database,
    private_redis,
    wait_until,
)
from tests.support.webhook_receiver import WebhookReceiver  # noqa: E402

SECRET = "outage-demo-secret"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage", type=float, default=300.0, help="Seconds the receiver is down.")
    parser.add_argument("--devices", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10.0, help="Events per second, all devices together.")
    parser.add_argument("--before", type=float, default=10.0, help="Seconds of traffic before the outage.")
    parser.add_argument("--after", type=float, default=10.0, help="Seconds of traffic after it.")
    parser.add_argument("--timeout", type=float, default=900.0, help="Longest wait for the backlog to drain.")
    return parser.parse_args()


def hmac_ok(hit_headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), f"{hit_headers['X-WA-Timestamp']}.".encode() + body,
                                    hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v.strip()) for v in hit_headers["X-WA-Signature"].split(","))


def main() -> int:
    args = parse_args()
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="wag-outage-"))
    with fresh_postgres_database() as database_url, private_redis(tmp) as (redis_url, _):
        env = clean_env(DATABASE_URL=database_url, REDIS_URL=redis_url, ALLOW_PRIVATE_URLS="true",
                        DATA_DIR=str(tmp / "data"), SECRET_KEY="outage-" + "k" * 40, LOG_LEVEL="WARNING")
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "ALLOW_PRIVATE_URLS", "SECRET_KEY",
                                               "DATA_DIR")})
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import time_machine
        from standardwebhooks import Webhook

        from whatsapp.models import App, Device, DeviceEvent, Tenant, WebhookDelivery

        receiver = WebhookReceiver().start()
        tenant = Tenant.objects.create(name="Outage", slug="outage")
        app, _ = App.create_with_token(tenant, "crm", webhook_url=receiver.url, webhook_secret=SECRET)
        devices = [Device.create(app, f"device-{i}") for i in range(args.devices)]
        worker = ProcessGroup([str(BIN / "celery"), "-A", "config", "worker", "-Q", "default", "-P", "threads",
                               "--concurrency", "16", "-n", "outage@%h", "--without-mingle", "--without-gossip",
                               "--loglevel", "INFO"], env, tmp / "worker.log")
        produced = 0
        try:
            wait_until(lambda: "ready." in worker.log(), 60, what="the worker")
            def produce(seconds: float) -> None:
                nonlocal produced
                end, interval = time.monotonic() + seconds, 1.0 / args.rate
                while time.monotonic() < end:
                    device = devices[produced % len(devices)]
                    DeviceEvent.append(device.pk, "message", {"message_id": f"OUT{produced}", "text": f"n{produced}"})
                    produced += 1
                    time.sleep(interval)

            produce(args.before)
            receiver.stop()
            down_at = time.time()
            print(f"receiver down for {args.outage:.0f} s ({produced} events so far)", flush=True)
            produce(args.outage)
            receiver.start()
            back_at = time.time()
            print(f"receiver back ({produced} events so far)", flush=True)
            produce(args.after)
            deadline = time.monotonic() + args.timeout
            while WebhookDelivery.objects.filter(state="succeeded").count() < produced:
                if time.monotonic() > deadline:
                    break
                time.sleep(1)
            drained_at = max((hit.at for hit in receiver.accepted()), default=back_at)
            time.sleep(2)
        finally:
            worker.stop()
            receiver.stop()

        accepted = receiver.accepted()
        ids = Counter(hit.headers["X-WA-Request-ID"] for hit in accepted)
        verified = hmac_verified = 0
        per_device: dict[str, list[int]] = defaultdict(list)
        for hit in accepted:
            with time_machine.travel(hit.at):  # verified as the receiver would have, when it arrived
                body = Webhook(SECRET.encode()).verify(hit.body, hit.headers)
            verified += 1
            hmac_verified += hmac_ok(hit.headers, hit.body)
            per_device[body["device_id"]].append(body["sequence"])
        violations = sum(1 for seqs in per_device.values() for a, b in itertools.pairwise(seqs) if b <= a)
        states = Counter(WebhookDelivery.objects.values_list("state", flat=True))
        attempts = Counter(WebhookDelivery.objects.values_list("attempts", flat=True))
        result = {
            "outage_s": args.outage, "events": produced, "accepted": len(accepted), "distinct_ids": len(ids),
            "duplicates": sum(n - 1 for n in ids.values()), "standard_webhooks_verified": verified,
            "hmac_verified": hmac_verified, "order_violations": violations, "states": dict(states),
            "attempts_histogram": dict(sorted(attempts.items())),
            "drained_s_after_back": round(drained_at - back_at, 1), "outage_started": down_at,
            "all_delivered_once_in_order": (len(ids) == produced and all(n == 1 for n in ids.values())
                                            and violations == 0 and verified == len(accepted) == hmac_verified),
        }
        print(json.dumps(result))
        return 0 if result["all_delivered_once_in_order"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
