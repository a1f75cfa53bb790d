"""Tenants and the apps that act for them (one bearer token each)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "wag_"


def hash_token(token: str) -> str:
    """SHA-256 of a token. Tokens carry 256 random bits, so a fast unsalted hash is enough to make a
    stolen table useless while keeping the lookup an indexed equality."""
    return hashlib.sha256(token.encode()).hexdigest()


class Tenant(models.Model):
    """An organisation: owns apps, and through them devices. The isolation boundary."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class App(models.Model):
    """An API client of a tenant: its bearer token, webhook endpoint and policy defaults.

    The token is shown once, when issued, and only its hash is stored.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="apps")
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(
        max_length=16, editable=False, help_text="First characters of the token, to recognise it."
    )
    token_issued_at = models.DateTimeField(null=True, blank=True, editable=False)

    webhook_url = models.CharField(
        max_length=2000, blank=True,
        help_text="Absolute URL, or a path joined to WEBHOOK_BASE_URL. Empty: no deliveries.",
    )
    webhook_secret = models.CharField(max_length=200, blank=True, help_text="HMAC secret for signatures.")
    webhook_secret_previous = models.CharField(
        max_length=200, blank=True, editable=False,
        help_text="The secret before the last rotation; deliveries are signed with both until the overlap ends.")
    webhook_secret_previous_until = models.DateTimeField(null=True, blank=True, editable=False)
    webhook_events = models.JSONField(
        default=list, blank=True, help_text="Event names to deliver; empty list means every event."
    )

    # Policy defaults for the app's devices; NULL means "use the environment default".
    allowed_contacts = models.TextField(
        null=True, blank=True, help_text="Comma-separated phone numbers or JIDs; empty inherits ALLOWED_CONTACTS."
    )
    disabled_tools = models.TextField(
        null=True, blank=True, help_text="Comma-separated MCP tool names; empty inherits DISABLED_TOOLS."
    )
    rate_limit_per_min = models.PositiveIntegerField(null=True, blank=True)
    download_rate_limit_per_min = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("tenant__name", "name")
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="app_name_unique_per_tenant")]

    def __str__(self) -> str:
        return f"{self.tenant} / {self.name}"

    @classmethod
    def create_with_token(cls, tenant: Tenant, name: str, **fields: object) -> tuple[App, str]:
        """Create an app and return it with its token, the only time the token is visible."""
        app = cls(tenant=tenant, name=name, **fields)
        token = app._assign_new_token()
        app.save()
        return app, token

    def rotate_token(self) -> str:
        """Replace the token; the old one stops working at once. Returns the new token."""
        token = self._assign_new_token()
        self.save(update_fields=["token_hash", "token_hint", "token_issued_at", "updated_at"])
        return token

    def _assign_new_token(self) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.token_hash = hash_token(token)
        self.token_hint = token[:10]
        self.token_issued_at = timezone.now()
        return token

    @classmethod
    def authenticate(cls, token: str | None) -> App | None:
        """The active app a bearer token belongs to, or None."""
        if not token or not token.startswith(TOKEN_PREFIX):
            return None
        digest = hash_token(token)
        app = cls.objects.select_related("tenant").filter(token_hash=digest, is_active=True).first()
        # The indexed lookup already matched; comparing again in constant time keeps the check honest
        # should the lookup ever become a prefix or case-insensitive match.
        if app is None or not hmac.compare_digest(app.token_hash, digest):
            return None
        return app

    def wants_event(self, event_type: str) -> bool:
        """Whether the app's webhook filter lets ``event_type`` through."""
        return not self.webhook_events or event_type in self.webhook_events

    def set_webhook_secret(self, secret: str, overlap: timedelta) -> None:
        """Replace the webhook secret (unsaved). The old one keeps signing for ``overlap`` as well, so
        receivers can switch to the new secret without dropping a delivery in between."""
        if secret == self.webhook_secret:
            return
        if self.webhook_secret and secret and overlap > timedelta(0):
            self.webhook_secret_previous = self.webhook_secret
            self.webhook_secret_previous_until = timezone.now() + overlap
        else:
            self.webhook_secret_previous, self.webhook_secret_previous_until = "", None
        self.webhook_secret = secret

    def signing_secrets(self, now: datetime | None = None) -> list[str]:
        """The secrets each delivery is signed with: the current one, then the previous one while its
        overlap lasts. Empty when the app set no secret (deliveries then go unsigned)."""
        secrets_ = [self.webhook_secret] if self.webhook_secret else []
        until = self.webhook_secret_previous_until
        if self.webhook_secret_previous and until and until > (now or timezone.now()) and secrets_:
            secrets_.append(self.webhook_secret_previous)
        return secrets_
