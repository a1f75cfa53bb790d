"""Contacts: one person per device, whether WhatsApp shows them by phone JID, by LID, or both.

WhatsApp increasingly addresses people by a privacy LID (``<digits>@lid``) instead of their phone
JID. When the gateway learns that a LID and a phone JID belong together (from a message carrying
both, or a user-info lookup), the two "twins" become one contact, so history, unread counts and
approval replies follow the person rather than the address.
"""

from __future__ import annotations

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from whatsapp import jids


class Contact(models.Model):
    device = models.ForeignKey("whatsapp.Device", on_delete=models.CASCADE, related_name="contacts")
    phone_jid = models.CharField(max_length=64, null=True, blank=True)
    lid = models.CharField(max_length=64, null=True, blank=True)
    push_name = models.CharField(max_length=200, blank=True, help_text="Name the person set for themself.")
    full_name = models.CharField(max_length=200, blank=True, help_text="Name in the account's address book.")
    business_name = models.CharField(max_length=200, blank=True)
    custom_name = models.CharField(max_length=200, blank=True, help_text="Name set through the gateway.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("device", "custom_name", "full_name", "push_name")
        constraints = [
            models.UniqueConstraint(fields=["device", "phone_jid"], condition=models.Q(phone_jid__isnull=False),
                                    name="contact_phone_unique_per_device"),
            models.UniqueConstraint(fields=["device", "lid"], condition=models.Q(lid__isnull=False),
                                    name="contact_lid_unique_per_device"),
            models.CheckConstraint(condition=models.Q(phone_jid__isnull=False) | models.Q(lid__isnull=False),
                                   name="contact_has_an_address"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def jid(self) -> str:
        """The key of the person in the unified chat list: the LID when known, else the phone JID."""
        return self.lid or self.phone_jid or ""

    @property
    def addresses(self) -> list[str]:
        return [jid for jid in (self.phone_jid, self.lid) if jid]

    @property
    def display_name(self) -> str:
        return (self.custom_name or self.full_name or self.push_name or self.business_name
                or self.phone_jid or self.lid or "")

    @classmethod
    def for_jid(cls, device_id: object, jid: str) -> Contact:
        """The contact addressed by a phone JID or LID, created when first seen."""
        jid = jids.normalize(jid)
        field = "lid" if jids.is_lid(jid) else "phone_jid"
        if not (jids.is_lid(jid) or jids.is_phone(jid)):
            raise ValueError(f"contacts are people, not {jid!r}")
        contact, _ = cls.objects.get_or_create(device_id=device_id, **{field: jid})
        return contact

    @classmethod
    def link_twins(cls, device_id: object, phone_jid: str, lid: str) -> Contact:
        """Record that ``phone_jid`` and ``lid`` are one person, merging two contacts if both exist.

        The surviving contact keeps every name either side knew (its own first) and takes over the
        other's chats.
        """
        phone_jid, lid = jids.normalize(phone_jid), jids.normalize(lid)
        if not (jids.is_phone(phone_jid) and jids.is_lid(lid)):
            raise ValueError(f"expected a phone JID and a LID, got {phone_jid!r} and {lid!r}")
        try:
            return cls._link_twins(device_id, phone_jid, lid)
        except IntegrityError:
            # Another process (the runner ingesting the same identity) created a row meanwhile;
            # with that row now visible, linking again merges into it.
            return cls._link_twins(device_id, phone_jid, lid)

    @classmethod
    def _link_twins(cls, device_id: object, phone_jid: str, lid: str) -> Contact:
        with transaction.atomic():
            by_phone = cls.objects.select_for_update().filter(device_id=device_id, phone_jid=phone_jid).first()
            by_lid = cls.objects.select_for_update().filter(device_id=device_id, lid=lid).first()
            if by_phone and by_lid and by_phone.pk == by_lid.pk:
                return by_phone
            if by_phone and by_lid:
                return by_phone._absorb(by_lid, lid=lid)
            if by_phone:
                # Also when the number had another LID before: the newest mapping wins.
                by_phone.lid = lid
                by_phone.save(update_fields=["lid", "updated_at"])
                return by_phone
            if by_lid:
                by_lid.phone_jid = phone_jid
                by_lid.save(update_fields=["phone_jid", "updated_at"])
                return by_lid
            return cls.objects.create(device_id=device_id, phone_jid=phone_jid, lid=lid)

    def _absorb(self, other: Contact, *, lid: str) -> Contact:
        for field in ("push_name", "full_name", "business_name", "custom_name"):
            if not getattr(self, field) and getattr(other, field):
                setattr(self, field, getattr(other, field))
        other.chats.update(contact=self)
        other.delete()
        self.lid = lid
        self.save()
        return self
