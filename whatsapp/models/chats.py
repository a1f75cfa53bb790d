"""Chats: one conversation of a device (a person, a group, a broadcast list)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from whatsapp import jids


class ChatKind(models.TextChoices):
    DIRECT = "direct"
    GROUP = "group"
    BROADCAST = "broadcast"


class Chat(models.Model):
    device = models.ForeignKey("whatsapp.Device", on_delete=models.CASCADE, related_name="chats")
    jid = models.CharField(max_length=128)
    kind = models.CharField(max_length=20, choices=ChatKind.choices, default=ChatKind.DIRECT)
    name = models.CharField(max_length=200, blank=True)
    contact = models.ForeignKey(
        "whatsapp.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="chats",
        help_text="The person of a direct chat; twins share it.",
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.TextField(blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-last_message_at",)
        constraints = [models.UniqueConstraint(fields=["device", "jid"], name="chat_jid_unique_per_device")]
        indexes = [models.Index(fields=["device", "-last_message_at"])]

    def __str__(self) -> str:
        return self.name or self.jid

    def with_twins(self) -> models.QuerySet[Chat]:
        """This chat and its twins: one person's chats under a phone JID and a LID."""
        if self.contact_id:
            return Chat.objects.filter(device_id=self.device_id, contact_id=self.contact_id)
        return Chat.objects.filter(pk=self.pk)

    @staticmethod
    def kind_of(jid: str) -> str:
        return ChatKind.GROUP if jids.is_group(jid) else ChatKind.DIRECT
