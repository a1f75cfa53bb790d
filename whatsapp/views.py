"""Process-level endpoints: liveness and readiness."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from whatsapp.errors import ErrorCode
from whatsapp.readiness import run_checks


@require_GET
def health(request: HttpRequest) -> HttpResponse:
    """wa-server's liveness probe: plain ``ok`` while the process serves requests."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
async def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: every dependency this process needs, with a 503 naming the ones that are down."""
    is_ready, body = await run_checks()
    if is_ready:
        return JsonResponse(body)
    response = JsonResponse(body, status=ErrorCode.SERVICE_UNAVAILABLE.status)
    response["Retry-After"] = str(ErrorCode.SERVICE_UNAVAILABLE.retry_after_s)
    return response
