"""Rendering the shared error enum over HTTP, and Django's error handlers for non-admin paths."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from whatsapp.errors import ErrorCode, WhatsAppError

HTML_PREFIXES = ("/admin/", "/static/")


def wants_json(request: HttpRequest) -> bool:
    """Every path but the admin's and static files' speaks the JSON envelope."""
    return not request.path.startswith(HTML_PREFIXES)


def error_response(request: HttpRequest, error: WhatsAppError) -> JsonResponse:
    """The REST rendering of ``error``: ``{"error": {...}, "request_id"}`` with its status and
    ``Retry-After`` where the member has one."""
    response = JsonResponse(error.to_rest(getattr(request, "request_id", None)), status=error.status)
    for header, value in error.rest_headers().items():
        response[header] = value
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not wants_json(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(request, WhatsAppError(ErrorCode.REQUEST_TOO_LARGE,
                                                     details={"max_bytes": limit}))
    return error_response(request, WhatsAppError(ErrorCode.VALIDATION_ERROR, str(exception) or None))


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not wants_json(request):
        return defaults.permission_denied(request, exception)
    return error_response(request, WhatsAppError(ErrorCode.FORBIDDEN))


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not wants_json(request):
        return defaults.page_not_found(request, exception)
    return error_response(request, WhatsAppError(ErrorCode.NOT_FOUND, details={"path": request.path}))


def server_error(request: HttpRequest) -> HttpResponse:
    if not wants_json(request):
        return defaults.server_error(request)
    return error_response(request, WhatsAppError(ErrorCode.INTERNAL_ERROR))
