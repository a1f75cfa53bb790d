"""The REST API: wa-server's endpoints at the site root, documented at ``/openapi.json`` and ``/docs``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from whatsapp import views
from whatsapp.api import approvals, apps, contacts, devices, errors, exports, groups, media, messages, webhooks
from whatsapp.api.auth import AppToken

DESCRIPTION = """\
A self-hosted, multi-tenant WhatsApp gateway, compatible with wa-server's REST API.

* **Auth:** `Authorization: Bearer <app token>` on device, message and media endpoints
  (`invalid_api_key` 401); `/apps` takes a JWT from `manage.py issue_jwt --tenant …` (`unauthorized` 401).
* **Envelopes:** success bodies are `{"data": …}`; errors are
  `{"error": {"code", "message", "details", …}, "request_id"}` with the code's HTTP status.
  Every response carries `X-Request-ID` (an incoming one is echoed).
* **Limits:** app requests are limited per minute (`rate_limit_exceeded` 429 with `Retry-After` and
  `X-RateLimit-*`); WhatsApp's own limit is `provider_rate_limit`.
* Times are RFC 3339 UTC.
"""

api = NinjaAPI(
    title="WhatsApp Gateway API",
    version="1.0",
    description=DESCRIPTION,
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=AppToken(),
)
errors.install(api)

_TEXT_OK = {"200": {"description": "The process serves requests.",
                    "content": {"text/plain": {"schema": {"type": "string", "example": "ok"}}}}}
_READY = {
    "200": {"description": "Every dependency is up.", "content": {"application/json": {"schema": {"type": "object"}}}},
    "503": {"description": "A dependency is down (see `checks`); `Retry-After` is set.",
            "content": {"application/json": {"schema": {"type": "object"}}}},
}


@api.get("/health", auth=None, tags=["health"], summary="Liveness: plain `ok`", openapi_extra={"responses": _TEXT_OK})
def health(request: HttpRequest) -> HttpResponse:
    return views.health(request)


@api.get("/ready", auth=None, tags=["health"], summary="Readiness of the database, broker, channel layer and fleet",
         openapi_extra={"responses": _READY})
async def ready(request: HttpRequest) -> HttpResponse:
    return await views.ready(request)


api.add_router("", devices.router)
api.add_router("", messages.router)
api.add_router("", groups.router)
api.add_router("", contacts.router)
api.add_router("", media.router)
api.add_router("", apps.router)
api.add_router("", exports.router)
api.add_router("", webhooks.router)
api.add_router("", approvals.router)
