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
