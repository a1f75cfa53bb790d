"""JWTs for the ``/apps`` administration API: minted by ``manage.py issue_jwt --tenant …``, signed
with ``JWT_SECRET`` (HS256), and scoped to one tenant."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
from django.conf import settings
from django.utils import timezone

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Tenant

ISSUER = "wagateway"
AUDIENCE = "wagateway:apps"
ALGORITHM = "HS256"


def mint(tenant: Tenant, *, ttl: timedelta = timedelta(days=30), subject: str = "operator") -> str:
    """A token that lets its bearer manage ``tenant``'s apps until it expires."""
    now = timezone.now()
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "tenant_id": str(tenant.pk), "role": "admin",
              "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp())}
    return jwt.encode(claims, settings.JWT_SECRET, algorithm=ALGORITHM)


def tenant_of(token: str) -> Tenant:
    """The tenant a valid token names; ``UNAUTHORIZED`` for anything else (bad signature, expired,
    another issuer or audience, a deleted tenant)."""
    try:
        claims = jwt.decode(token, settings.JWT_SECRET, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "tenant_id", "sub"]})
    except jwt.ExpiredSignatureError:
        raise WhatsAppError(ErrorCode.UNAUTHORIZED, "The JWT has expired; issue a new one.") from None
    except jwt.InvalidTokenError:
        raise WhatsAppError(ErrorCode.UNAUTHORIZED) from None
    tenant = Tenant.objects.filter(pk=_uuid_or_none(claims["tenant_id"])).first()
    if tenant is None:
        raise WhatsAppError(ErrorCode.UNAUTHORIZED, "The JWT's tenant no longer exists.")
    return tenant


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
