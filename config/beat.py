"""Periodic jobs run by Celery beat.

Each issue that implements a job adds its entry here (approval expiry, retention purge, device
health sweep, outbox re-dispatch). ``gateway-heartbeat`` keeps beat's liveness visible: its last run
time is recorded and reported by ``GET /ready``.
"""

from __future__ import annotations

BEAT_SCHEDULE: dict[str, dict] = {
    "gateway-heartbeat": {"task": "whatsapp.tasks.beat_heartbeat", "schedule": 15.0},
    "purge-idempotency-keys": {"task": "whatsapp.tasks.purge_idempotency_keys", "schedule": 3600.0},
    "expire-approvals": {"task": "approvals.tasks.expire_approvals", "schedule": 5.0},
    "purge-expired-data": {"task": "whatsapp.tasks.purge_expired_data", "schedule": 3600.0},
    "purge-webhook-deliveries": {"task": "whatsapp.tasks.purge_webhook_deliveries", "schedule": 3600.0},
}
