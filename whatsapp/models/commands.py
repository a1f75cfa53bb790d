"""Work for a device's runner: the durable outbox of sends and every other engine command.

A surface never talks to an engine: a service writes a ``DeviceCommand`` (in the same transaction
as, for a send, its ``Message``), and the runner that holds the device claims and executes it,
writing the result back. Callers that need an answer wait on the row with a deadline; a command
not started by its deadline is never executed later (the caller has already been told it timed out).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from whatsapp.errors import ErrorCode


class CommandKind(models.TextChoices):
    LINK = "link"  # start QR linking; done when the first QR is recorded
    PAIR_PHONE = "pair_phone"  # request a pairing code
    LOGOUT = "logout"
    SEND = "send"
    REACT = "react"
    EDIT = "edit"
    REVOKE = "revoke"
    MARK_READ = "mark_read"
    CALL = "call"  # any other engine operation (groups, contacts, presence), by method name


# Commands that may be executed again after a crash without harm: sends carry a fixed message id
# that WhatsApp deduplicates, and the others are idempotent by nature.
RETRYABLE_AFTER_CRASH = frozenset({CommandKind.SEND, CommandKind.REACT, CommandKind.EDIT, CommandKind.REVOKE,
                                   CommandKind.MARK_READ, CommandKind.LINK})
MAX_ATTEMPTS = 3
# Commands one claim takes: sends are recorded per claimed batch, so a bigger batch means fewer
# commits per message; a crash mid-batch only retries sends, which keep their ids.
CLAIM_LIMIT = 200


class CommandState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DeviceCommand(models.Model):
    device = models.ForeignKey("whatsapp.Device", on_delete=models.CASCADE, related_name="commands")
    kind = models.CharField(max_length=20, choices=CommandKind.choices)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    message = models.ForeignKey("whatsapp.Message", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="commands")
    state = models.CharField(max_length=10, choices=CommandState.choices, default=CommandState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateTimeField(null=True, blank=True, help_text="Not started by then: failed, never run.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["device", "state", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"

    @classmethod
    def enqueue(cls, device_id: Any, kind: str, payload: dict[str, Any] | None = None, *,
                message_id: int | None = None, timeout_s: float | None = None) -> DeviceCommand:
        from whatsapp import wakeups

        deadline = timezone.now() + timedelta(seconds=timeout_s) if timeout_s else None
        command = cls.objects.create(device_id=device_id, kind=kind, payload=payload or {}, message_id=message_id,
                                     deadline=deadline)
        wakeups.notify_on_commit("device", device_id)
        return command

    @classmethod
    def claim(cls, device_id: Any, limit: int = CLAIM_LIMIT,
              kinds: tuple[str, ...] | None = None) -> list[DeviceCommand]:
        """Take the device's pending commands (of ``kinds``, if given), oldest first, marking them
        running. Commands whose deadline passed are failed instead, never executed late. The rows
        are read once (locked) and marked in one UPDATE: a claim is three statements however many
        commands it takes."""
        now = timezone.now()
        with transaction.atomic():
            pending = cls.objects.filter(device_id=device_id, state=CommandState.PENDING)
            if kinds is not None:
                pending = pending.filter(kind__in=kinds)
            expired = pending.filter(deadline__lt=now)
            if expired.exists():
                expired.update(state=CommandState.FAILED, error_code=ErrorCode.CONNECTION_TIMEOUT.code,
                               error_message="The device did not take the command before its deadline.",
                               finished_at=now)
            commands = list(pending.select_for_update(skip_locked=True).order_by("id")[:limit])
            if not commands:
                return []
            cls.objects.filter(id__in=[c.pk for c in commands]).update(
                state=CommandState.RUNNING, started_at=now, attempts=F("attempts") + 1)
            for command in commands:  # what the UPDATE wrote (the rows are locked: nobody else wrote them)
                command.state, command.started_at, command.attempts = CommandState.RUNNING, now, command.attempts + 1
            return commands

    @classmethod
    def recover_interrupted(cls, device_id: Any) -> tuple[int, int]:
        """After a runner crash: commands it was running are retried when that is safe (and not
        tried too often), failed otherwise — a failed send fails its message too, so no message
        stays queued with nothing left to send it. Returns (requeued, failed)."""
        from whatsapp.models.messages import DeliveryStatus, Message

        now = timezone.now()
        with transaction.atomic():
            running = cls.objects.filter(device_id=device_id, state=CommandState.RUNNING)
            unsafe = running.exclude(kind__in=RETRYABLE_AFTER_CRASH) | running.filter(attempts__gte=MAX_ATTEMPTS)
            failed = list(unsafe.values_list("id", "message_id"))
            failed_ids = [pk for pk, _ in failed]
            cls.objects.filter(id__in=failed_ids).update(
                state=CommandState.FAILED, error_code=ErrorCode.CONNECTION_LOST.code,
                error_message="The device runner stopped while executing this command.", finished_at=now)
            Message.objects.filter(pk__in=[m for _, m in failed if m], status=DeliveryStatus.QUEUED).update(
                status=DeliveryStatus.FAILED, error_code=ErrorCode.CONNECTION_LOST.code)
            requeued = running.exclude(id__in=failed_ids).update(state=CommandState.PENDING)
        return requeued, len(failed_ids)

    def succeed(self, result: dict[str, Any] | None = None) -> None:
        self.state, self.result, self.finished_at = CommandState.DONE, result or {}, timezone.now()
        self.save(update_fields=["state", "result", "finished_at"])

    def fail(self, code: ErrorCode, message: str = "", details: dict[str, Any] | None = None) -> None:
        self.state, self.error_code, self.finished_at = CommandState.FAILED, code.code, timezone.now()
        self.error_message = message or code.message
        self.result = {"details": details or {}}
        self.save(update_fields=["state", "error_code", "error_message", "result", "finished_at"])

    def requeue(self) -> None:
        self.state = CommandState.PENDING
        self.save(update_fields=["state"])

    @property
    def is_finished(self) -> bool:
        return self.state in (CommandState.DONE, CommandState.FAILED)


class DeviceLease(models.Model):
    """Which fleet process holds (runs) a device. Renewed while the holder lives; once it lapses,
    another fleet may take the device over."""

    device = models.OneToOneField("whatsapp.Device", on_delete=models.CASCADE, primary_key=True,
                                  related_name="lease")
    holder = models.CharField(max_length=200)
    acquired_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.device_id} held by {self.holder} until {self.expires_at:%H:%M:%S}"

    @classmethod
    def acquire(cls, device_id: Any, holder: str, ttl_s: float) -> bool:
        """Take or renew the lease if it is free, lapsed, or already ours."""
        now = timezone.now()
        expires = now + timedelta(seconds=ttl_s)
        with transaction.atomic():
            taken = cls.objects.filter(device_id=device_id).filter(
                models.Q(holder=holder) | models.Q(expires_at__lt=now)
            ).update(holder=holder, expires_at=expires)
            if taken:
                return True
            _, created = cls.objects.get_or_create(device_id=device_id,
                                                   defaults={"holder": holder, "expires_at": expires})
            return created

    @classmethod
    def renew_all(cls, holder: str, device_ids: list[Any], ttl_s: float) -> set[str]:
        """Extend our leases; returns the ids (as str) still ours."""
        # A lease of ours that lapsed but was not taken over is still ours: renew it too (acquire()
        # would hand it back anyway), so what we report kept is exactly what is held.
        now = timezone.now()
        cls.objects.filter(holder=holder, device_id__in=device_ids).update(expires_at=now + timedelta(seconds=ttl_s))
        return {str(d) for d in cls.objects.filter(holder=holder, device_id__in=device_ids)
                .values_list("device_id", flat=True)}

    @classmethod
    def release(cls, device_id: Any, holder: str) -> None:
        cls.objects.filter(device_id=device_id, holder=holder).delete()

    @classmethod
    def is_held_by(cls, device_id: Any, holder: str) -> bool:
        return cls.objects.filter(device_id=device_id, holder=holder, expires_at__gte=timezone.now()).exists()
