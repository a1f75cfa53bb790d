"""The simulated network's state, shared through the database by the engine (inside a device runner) and
``manage.py simulate`` (the phone and the rest of the network, in another process).

Nothing here points at the gateway's own models: the simulator is "WhatsApp", and WhatsApp does not
know the gateway's tables. Devices are referred to by their UUID only.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SimSession(models.Model):
    """The simulator's "session keys" of one linked device (whatsmeow's device store)."""

    device_id = models.UUIDField(unique=True)
    phone_jid = models.CharField(max_length=64)
    lid = models.CharField(max_length=64, blank=True)
    push_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.phone_jid} on {self.device_id}"

    def as_dict(self) -> dict:
        return {"phone_jid": self.phone_jid, "lid": self.lid, "push_name": self.push_name,
                "created_at": self.created_at.isoformat()}


class PhoneAction(models.Model):
    """Something the phone or the network does to one device, written by ``simulate`` and handled once by
    the engine that hosts the device (claimed with a conditional UPDATE)."""

    device_id = models.UUIDField()
    action = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    # Accepted while the device was offline: WhatsApp holds it and delivers it on the next Connected.
    deferred = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="JSON error object when the action failed.")

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["device_id", "handled_at"]),
                   models.Index(fields=["device_id", "deferred"])]

    def __str__(self) -> str:
        return f"{self.action} #{self.pk}"


class NetworkRecord(models.Model):
    """What the network received from a device, in order (sends, reactions, receipts, group ops…)."""

    device_id = models.UUIDField()
    kind = models.CharField(max_length=32)
    wa_id = models.CharField(max_length=128, blank=True)
    chat_jid = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["device_id", "kind"])]
        constraints = [
            # WhatsApp dedupes by message id: a resent id is one message.
            models.UniqueConstraint(fields=["device_id", "wa_id"], condition=~models.Q(wa_id=""),
                                    name="sim_network_record_unique_wa_id"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.wa_id or self.pk}"

    def as_dict(self) -> dict:
        return {"id": self.pk, "kind": self.kind, "wa_id": self.wa_id, "chat_jid": self.chat_jid,
                "payload": self.payload, "created_at": self.created_at.isoformat()}


class SimFault(models.Model):
    """A fault waiting to strike a device (timeouts, rate limits, refused connects…). Stored so that it
    survives a runner restart until consumed."""

    device_id = models.UUIDField()
    kind = models.CharField(max_length=32)
    remaining = models.PositiveIntegerField(default=1)
    seconds = models.FloatField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True, help_text="For faults that last a time (temp-ban).")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["device_id", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} x{self.remaining} on {self.device_id}"

    def as_dict(self) -> dict:
        return {"id": self.pk, "kind": self.kind, "remaining": self.remaining, "seconds": self.seconds,
                "until": self.until.isoformat() if self.until else None, "detail": self.detail}


class SimDeviceState(models.Model):
    """What the phone can see of a device: its connection and the QR code or pairing code on screen."""

    device_id = models.UUIDField(unique=True)
    connected = models.BooleanField(default=False)
    linking = models.BooleanField(default=False)
    qr_code = models.TextField(blank=True)
    qr_index = models.PositiveSmallIntegerField(default=0)
    qr_valid_until = models.DateTimeField(null=True, blank=True)
    window_ends_at = models.DateTimeField(null=True, blank=True)
    pairing_code = models.CharField(max_length=16, blank=True)
    pairing_phone = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return str(self.device_id)

    def as_dict(self) -> dict:
        def iso(value: object) -> str | None:
            return value.isoformat() if value else None  # type: ignore[attr-defined]

        return {"connected": self.connected, "linking": self.linking, "qr_code": self.qr_code,
                "qr_index": self.qr_index, "qr_valid_until": iso(self.qr_valid_until),
                "window_ends_at": iso(self.window_ends_at), "pairing_code": self.pairing_code,
                "pairing_phone": self.pairing_phone, "updated_at": iso(self.updated_at)}


class WorldContact(models.Model):
    """A person on (or off) the simulated WhatsApp network."""

    phone_jid = models.CharField(max_length=64, unique=True)
    lid = models.CharField(max_length=64, blank=True, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    on_whatsapp = models.BooleanField(default=True)
    about = models.CharField(max_length=300, blank=True)
    picture_id = models.CharField(max_length=64, blank=True)
    verified_name = models.CharField(max_length=200, blank=True)
    reads = models.BooleanField(default=True, help_text="Sends read receipts for what it receives.")
    online = models.BooleanField(default=False)
    add_privacy = models.BooleanField(default=False, help_text="Refuses being added to groups (error 403).")
    source = models.CharField(max_length=16, default="fixture")  # fixture | added | account

    class Meta:
        ordering = ("phone_jid",)

    def __str__(self) -> str:
        return self.name or self.phone_jid

    def as_dict(self) -> dict:
        return {"phone_jid": self.phone_jid, "lid": self.lid, "name": self.name, "on_whatsapp": self.on_whatsapp,
                "about": self.about, "picture_id": self.picture_id, "verified_name": self.verified_name,
                "reads": self.reads, "online": self.online, "add_privacy": self.add_privacy, "source": self.source}


class WorldGroup(models.Model):
    """A group on the simulated network. ``participants`` is a list of ``{"jid": <phone JID>, "role":
    "member" | "admin" | "superadmin"}``; ``me_role`` makes every account that links join it."""

    jid = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    topic = models.TextField(blank=True)
    owner_jid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    is_announce = models.BooleanField(default=False)
    is_locked = models.BooleanField(default=False)
    invite_code = models.CharField(max_length=32, blank=True)
    revoked_codes = models.JSONField(default=list, blank=True)
    participants = models.JSONField(default=list, blank=True)
    me_role = models.CharField(max_length=16, blank=True)
    source = models.CharField(max_length=16, default="fixture")  # fixture | added | engine

    class Meta:
        ordering = ("jid",)

    def __str__(self) -> str:
        return self.name

    def role_of(self, phone_jid: str) -> str:
        """``member``/``admin``/``superadmin``, or ``""`` for a non-participant."""
        for participant in self.participants:
            if participant["jid"] == phone_jid:
                return participant.get("role", "member")
        return ""

    def as_dict(self) -> dict:
        return {"jid": self.jid, "name": self.name, "topic": self.topic, "owner_jid": self.owner_jid,
                "created_at": self.created_at.isoformat(), "is_announce": self.is_announce,
                "is_locked": self.is_locked, "invite_code": self.invite_code, "participants": self.participants,
                "me_role": self.me_role, "source": self.source}


class WorldVersion(models.Model):
    """One row (id 1) whose ``version`` grows whenever the world changes (a contact or group saved), so that
    an engine in another process notices, with one cheap read per poll, that its cached lookups are stale."""

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"world v{self.version}"


class MediaBlob(models.Model):
    """The plain bytes of a media attachment the network holds (what ``download_media`` fetches)."""

    token = models.CharField(max_length=64, unique=True)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()
    expired = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.token
