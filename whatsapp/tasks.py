"""Celery tasks of the ``whatsapp`` app that keep the gateway itself healthy."""

from __future__ import annotations

from celery import shared_task

from whatsapp.readiness import HEARTBEAT_ROLE


@shared_task(name="whatsapp.tasks.beat_heartbeat", ignore_result=True, expires=60)
def beat_heartbeat() -> None:
    """Scheduled by beat, run by a worker: its timestamp proves both are alive (``/ready``)."""
    from whatsapp.models import ProcessHeartbeat

    ProcessHeartbeat.beat(HEARTBEAT_ROLE)


@shared_task(name="whatsapp.tasks.purge_idempotency_keys", ignore_result=True, expires=3600)
def purge_idempotency_keys() -> int:
    """API idempotency keys are honoured for 24 hours; older rows only take space."""
    from whatsapp.models import IdempotencyKey

    return IdempotencyKey.purge_expired()


@shared_task(name="whatsapp.tasks.deliver_webhook_stream", ignore_result=True)
def deliver_webhook_stream(stream_id: int, lease_token: str) -> int:
    """Deliver one webhook stream under the lease the dispatcher took for it; returns the attempts.
    Runs on the ``default`` queue; a task that never runs only lets the lease expire."""
    from whatsapp.webhooks.delivery import deliver_stream

    return deliver_stream(stream_id, lease_token).attempted


@shared_task(name="whatsapp.tasks.purge_webhook_deliveries", ignore_result=True, expires=3600)
def purge_webhook_deliveries() -> int:
    """Finished deliveries (and their attempt logs) older than WEBHOOK_DELIVERY_RETENTION_DAYS."""
    from whatsapp.webhooks.services import purge_finished

    return purge_finished()


@shared_task(name="whatsapp.tasks.purge_expired_data", ignore_result=True, expires=3600)
def purge_expired_data() -> dict:
    """Hourly: messages, media, event log entries and approvals past MESSAGE_RETENTION_DAYS, audit
    rows past AUDIT_RETENTION_DAYS (see ``whatsapp.services.retention``)."""
    from dataclasses import asdict

    from whatsapp.services.retention import purge_expired

    return asdict(purge_expired())
