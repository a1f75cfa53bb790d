"""The API's exception handlers: everything a request can fail with leaves as the shared error
envelope (``{"error": {...}, "request_id"}``) with the member's status — never a traceback, never
ninja's own ``{"detail": …}`` shape."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.http import error_response

logger = logging.getLogger("whatsapp.api")

_LOCATIONS = ("body", "query", "path", "header", "cookie", "form", "file")


def render(request: HttpRequest, error: WhatsAppError) -> HttpResponse:
    """The envelope for ``error``; remembered on the request for the audit log."""
    request.api_error = error
    return error_response(request, error)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "payload", "to")`` → ``"to"``: the field as the client named it."""
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        location = parts.pop(0)
        if location == "body" and len(parts) > 1:
            parts.pop(0)  # the operation's parameter name, which the client never sees
    return ".".join(str(part) for part in parts) or str(loc[-1] if loc else "")


def validation_failed(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems = [{"field": _field(item.get("loc", ())), "message": str(item.get("msg", "")),
                 "type": str(item.get("type", ""))} for item in exc.errors]
    first = problems[0] if problems else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return render(request, WhatsAppError(ErrorCode.VALIDATION_ERROR, message,
                                         details={"field": first["field"], "errors": problems}))


def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, RequestDataTooBig):
        return too_large(request)
    if exc.status_code == 400:
        return render(request, WhatsAppError(ErrorCode.VALIDATION_ERROR, "The request body is not valid JSON.",
                                             details={"field": "body"}))
    code = {401: ErrorCode.INVALID_API_KEY, 403: ErrorCode.FORBIDDEN, 404: ErrorCode.NOT_FOUND,
            405: ErrorCode.METHOD_NOT_ALLOWED, 413: ErrorCode.REQUEST_TOO_LARGE}.get(exc.status_code,
                                                                                      ErrorCode.INTERNAL_ERROR)
    return render(request, WhatsAppError(code, str(exc.message) or None))


def too_large(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    return render(request, WhatsAppError(ErrorCode.REQUEST_TOO_LARGE,
                                         details={"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}))


def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    if isinstance(exc, RequestDataTooBig):
        return too_large(request)
    logger.exception("unhandled error on %s %s (request_id=%s)", request.method, request.path,
                     getattr(request, "request_id", "-"))
    return render(request, WhatsAppError(ErrorCode.INTERNAL_ERROR))


def install(api: NinjaAPI) -> None:
    api.add_exception_handler(WhatsAppError, render)
    api.add_exception_handler(ValidationError, validation_failed)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, lambda request, exc: render(request, WhatsAppError(ErrorCode.NOT_FOUND)))
    api.add_exception_handler(Exception, unexpected)
