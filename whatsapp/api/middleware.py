"""Per-request bookkeeping around the API: the limiter's ``X-RateLimit-*`` headers on every
app-authenticated answer, and one audit row for every request that tries to change something."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.models import AuditLog, Surface

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PARAM = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


def endpoint_of(request: HttpRequest) -> str:
    """``POST /devices/{device_id}/messages``: the route, not the concrete path, so rows group."""
    match = getattr(request, "resolver_match", None)
    route = _PARAM.sub(r"{\1}", match.route) if match is not None and match.route else request.path.lstrip("/")
    return f"{request.method} /{route}"


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        quota = getattr(request, "api_quota", None)
        if quota is not None:
            for header, value in quota.headers().items():
                response[header] = value
        if request.method in MUTATING:
            self._audit(request, response)
        return response

    @staticmethod
    def _audit(request: HttpRequest, response: HttpResponse) -> None:
        app = getattr(request, "api_app", None)
        tenant = getattr(request, "api_tenant", None) or (app.tenant if app is not None else None)
        if app is None and tenant is None:
            return  # nobody authenticated: nothing was changed, and strangers must not grow the log
        error = getattr(request, "api_error", None)
        device = getattr(request, "api_device", None)
        AuditLog.record(
            actor=f"app:{app.pk}" if app is not None else f"tenant:{tenant.pk}",
            surface=Surface.API, action=endpoint_of(request), success=response.status_code < 400,
            error_code=error.code.code if error is not None else "",
            request_id=getattr(request, "request_id", ""),
            details={"status": response.status_code, "path": request.path},
            app=app, tenant=tenant, device_id=device.pk if device is not None else None,
        )
