"""Views that fail on purpose, mounted by tests of the error envelope."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401 - Django reads them here
from whatsapp.errors import ErrorCode, WhatsAppError


def raises_whatsapp_error(request: HttpRequest) -> HttpResponse:
    raise WhatsAppError(ErrorCode.MESSAGE_RATE_LIMITED, details={"limit": 60}, retry_after_s=12.2)


def raises_unexpected(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret internal detail")


def reads_body(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"size": len(request.body)})


urlpatterns = [
    path("boom/whatsapp", raises_whatsapp_error),
    path("boom/unexpected", raises_unexpected),
    path("boom/body", reads_body),
    path("", include("config.urls")),
]
