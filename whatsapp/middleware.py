"""Request ids on every request, and the shared error envelope for everything outside the admin."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.http import error_response, wants_json

logger = logging.getLogger("whatsapp.errors")

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed only when it is short and plain, so it cannot inject into logs or headers.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIDMiddleware:
    """Honour a sane ``X-Request-ID`` or mint one; expose it as ``request.request_id`` and echo it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = offered if _ACCEPTABLE_REQUEST_ID.match(offered) else str(uuid.uuid4())
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


class ErrorEnvelopeMiddleware:
    """Turn exceptions escaping a view into the enum's JSON envelope (outside the admin).

    ``WhatsAppError`` renders as itself; anything else is logged with its traceback and answered
    as ``internal_error`` — a client never sees a traceback or Django's HTML error page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and wants_json(request) and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            # Django's require_http_methods answers 405 with an empty body; keep its Allow header.
            allowed = response.get("Allow", "")
            error = WhatsAppError(ErrorCode.METHOD_NOT_ALLOWED, f"{request.method} is not allowed here.",
                                  details={"allowed": [m.strip() for m in allowed.split(",") if m.strip()]})
            enveloped = error_response(request, error)
            if allowed:
                enveloped["Allow"] = allowed
            return enveloped
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not wants_json(request):
            return None
        if isinstance(exception, WhatsAppError):
            return error_response(request, exception)
        from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
        from django.http import Http404

        if isinstance(exception, Http404):
            return error_response(request, WhatsAppError(ErrorCode.NOT_FOUND))
        if isinstance(exception, PermissionDenied):
            return error_response(request, WhatsAppError(ErrorCode.FORBIDDEN))
        if isinstance(exception, RequestDataTooBig):
            return error_response(request, WhatsAppError(ErrorCode.REQUEST_TOO_LARGE))
        if isinstance(exception, SuspiciousOperation):
            return error_response(request, WhatsAppError(ErrorCode.VALIDATION_ERROR, str(exception)))
        logger.exception("unhandled error on %s %s (request_id=%s)", request.method, request.path,
                         getattr(request, "request_id", "-"))
        return error_response(request, WhatsAppError(ErrorCode.INTERNAL_ERROR))
