"""Celery tasks of the approvals app."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="approvals.tasks.expire_approvals", ignore_result=True, expires=10)
def expire_approvals() -> int:
    """Scheduled by beat every 5 s: a pending approval expires within 10 s of its deadline even if
    nobody asks, and its ``approval_resolved`` event goes out (webhook, MCP notification, admin)."""
    from approvals.services import expire_due

    return expire_due()
