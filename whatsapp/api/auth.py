"""Who is calling: an app by its bearer token (device, message and media endpoints) or a tenant
operator by a JWT (``/apps``). Failures raise the shared enum's errors, rendered by the API's
exception handlers: ``invalid_api_key`` and ``unauthorized`` (both 401)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from whatsapp.api import limits, tenant_tokens
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import App, Device, Tenant


class _Bearer(HttpBearer):
    missing: ErrorCode

    def __call__(self, request: HttpRequest) -> Any:
        # ninja answers a missing or non-Bearer header with its own 401; ours names the enum's code.
        result = super().__call__(request)
        if result is None:
            raise WhatsAppError(self.missing)
        return result


class AppToken(_Bearer):
    """``Authorization: Bearer wag_…`` — the app's token; every app-scoped request also counts
    against the app's request limiter."""

    missing = ErrorCode.INVALID_API_KEY

    def authenticate(self, request: HttpRequest, token: str) -> App:
        app = App.authenticate(token)
        if app is None:
            raise WhatsAppError(ErrorCode.INVALID_API_KEY)
        request.api_app = app
        quota = limits.take(app)
        request.api_quota = quota
        if quota is not None and quota.exceeded:
            raise quota.error()
        _check_device_in_path(request, app)
        return app


def _check_device_in_path(request: HttpRequest, app: App) -> None:
    """Tenant isolation for every route under ``/devices/{device_id}``, decided before the body is
    even parsed: another app's device is ``not_found``, exactly like a device that never existed."""
    match = getattr(request, "resolver_match", None)
    raw = match.kwargs.get("device_id") if match is not None else None
    if raw is None:
        return
    try:
        device_id = uuid.UUID(str(raw))
    except ValueError:
        return  # not a UUID: the parameter's validation answers validation_error
    device = Device.objects.filter(pk=device_id, app=app).first()
    if device is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, "No such device for this app.", details={"device_id": str(raw)})
    device.app = app  # the caller's, already loaded: no join
    request.api_device = device


class TenantJWT(_Bearer):
    """``Authorization: Bearer <JWT>`` from ``manage.py issue_jwt --tenant …``."""

    missing = ErrorCode.UNAUTHORIZED

    def authenticate(self, request: HttpRequest, token: str) -> Tenant:
        tenant = tenant_tokens.tenant_of(token)
        request.api_tenant = tenant
        return tenant
