"""Messages (inbound and outbound, stored once per device and WhatsApp id) and their reactions."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from whatsapp.engine.base import Kind
from whatsapp.search.fields import SearchTextField


class Direction(models.TextChoices):
    INBOUND = "in"
    OUTBOUND = "out"


# The kinds of message are the engine port's (one list for the store, the engines and the API).
MessageType = models.TextChoices("MessageType", [(kind.name, kind.value) for kind in Kind])


MEDIA_TYPES = frozenset({MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT,
                         MessageType.STICKER})


class DeliveryStatus(models.TextChoices):
    """Where an outbound message is. Inbound messages have no delivery status."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


# Receipts may arrive out of order; a status never moves backwards.
STATUS_RANK = {DeliveryStatus.QUEUED: 0, DeliveryStatus.SENT: 1, DeliveryStatus.DELIVERED: 2,
               DeliveryStatus.READ: 3}


def status_advances(current: str, status: str) -> bool:
    """Whether ``status`` moves a message that is ``current`` forward (never backwards). A function of
    the two statuses alone, so a batch of receipts can be judged without loading messages.

    Only a message WhatsApp has not accepted yet can fail, and a failed message stays failed.
    """
    if status == DeliveryStatus.FAILED:
        return current == DeliveryStatus.QUEUED
    if current == DeliveryStatus.FAILED or status not in STATUS_RANK:
        return False
    return STATUS_RANK[status] > STATUS_RANK.get(current, -1)


class Message(models.Model):
    device = models.ForeignKey("whatsapp.Device", on_delete=models.CASCADE, related_name="messages")
    chat = models.ForeignKey("whatsapp.Chat", on_delete=models.CASCADE, related_name="messages")
    wa_id = models.CharField(max_length=128, help_text="WhatsApp message id (ours are generated up front).")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    type = models.CharField(max_length=20, choices=MessageType.choices, default=MessageType.TEXT)
    from_me = models.BooleanField(default=False, help_text="Sent by this account (gateway or own phone).")

    sender_jid = models.CharField(max_length=64, blank=True)
    sender_phone_jid = models.CharField(max_length=64, blank=True)
    sender_lid = models.CharField(max_length=64, blank=True)
    sender_name = models.TextField(blank=True)

    body = models.TextField(blank=True, help_text="Text, or the caption of a media message.")
    search_text = SearchTextField(help_text="The body's search tokens (whatsapp.search); NULL until indexed.")
    quoted_wa_id = models.CharField(max_length=128, blank=True)
    content = models.JSONField(default=dict, blank=True,
                               help_text="Type-specific fields: location, contact card, poll options.")

    media_mime_type = models.CharField(max_length=200, blank=True)
    media_file_name = models.TextField(blank=True)
    media_size = models.PositiveBigIntegerField(null=True, blank=True)
    media_sha256 = models.CharField(max_length=64, blank=True)
    media_duration_s = models.PositiveIntegerField(null=True, blank=True)
    media_ptt = models.BooleanField(default=False, help_text="Voice note.")
    media_info = models.JSONField(default=dict, blank=True,
                                  help_text="What the engine needs to download the media again.")

    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, blank=True)
    error_code = models.CharField(max_length=64, blank=True, help_text="An ErrorCode name when failed.")

    timestamp = models.DateTimeField(default=timezone.now, help_text="WhatsApp's time of the message.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True,
                                   help_text="Outbound: read by the recipient. Inbound: marked read by us.")
    edited_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    from_history = models.BooleanField(default=False)

    class Meta:
        ordering = ("-timestamp", "-id")
        constraints = [
            models.UniqueConstraint(fields=["device", "wa_id"], name="message_wa_id_unique_per_device"),
        ]
        indexes = [
            models.Index(fields=["chat", "-timestamp"]),
            models.Index(fields=["device", "-timestamp"]),
            models.Index(fields=["device", "status"]),
        ]

    def __str__(self) -> str:
        return self.wa_id

    @property
    def has_media(self) -> bool:
        return self.type in MEDIA_TYPES

    @property
    def is_unread(self) -> bool:
        """Own messages and history-sync messages are never unread (as ingest counts them); others
        until marked read."""
        return (self.direction == Direction.INBOUND and not self.from_me and not self.from_history
                and self.read_at is None)

    def can_advance_to(self, status: str) -> bool:
        """Whether a receipt for ``status`` moves this message forward (see :func:`status_advances`)."""
        return status_advances(self.status, status)


class Reaction(models.Model):
    """One emoji per sender per message; an empty emoji removes the reaction."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    sender_jid = models.CharField(max_length=64)
    emoji = models.CharField(max_length=32)
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "sender_jid"], name="reaction_unique_per_sender"),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.sender_jid}"
