"""The ``/apps`` administration API: a tenant operator (JWT from ``manage.py issue_jwt``) creates apps
and gets each one's token once, lists, reads, updates (webhook, policy), rotates and retires them.

App tokens are refused here (``unauthorized``); another tenant's app is ``not_found``. Reads never
return the token hash or the webhook secret — only ``token_hint`` and ``has_webhook_secret``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from whatsapp.api.auth import TenantJWT
from whatsapp.api.responses import responses
from whatsapp.api.schemas import Body, Data
from whatsapp.errors import ErrorCode as E
from whatsapp.models import App, Tenant
from whatsapp.services import apps as app_services

router = Router(tags=["apps"])

JWT = TenantJWT()
# What every /apps operation may answer: bad input, a bad or expired JWT (never the app limiter,
# which counts app tokens), and the gateway's own failures.
APPS_COMMON = (E.VALIDATION_ERROR, E.UNAUTHORIZED, E.INTERNAL_ERROR, E.SERVICE_UNAVAILABLE)

WebhookEvent = Literal[app_services.WEBHOOK_EVENTS]  # type: ignore[valid-type]
Entry = Annotated[str, Field(min_length=1, max_length=200)]
Limit = Annotated[int, Field(ge=1, le=1_000_000)]


class AppOut(Schema):
    app_id: uuid.UUID
    name: str
    is_active: bool = Field(description="False: the app's token is refused (deactivated or deleted).")
    token_hint: str = Field(description="First characters of the current token, to recognise it.")
    token_issued_at: datetime | None
    webhook_url: str | None = Field(description="Absolute URL, or a path joined to WEBHOOK_BASE_URL.")
    has_webhook_secret: bool = Field(description="Whether deliveries are signed; the secret is never returned.")
    webhook_events: list[str] = Field(description="Events delivered; empty means every event.")
    allowed_contacts: list[str] | None = Field(description="Whitelist; null inherits ALLOWED_CONTACTS.")
    disabled_tools: list[str] | None = Field(description="MCP tools refused; null inherits DISABLED_TOOLS.")
    rate_limit_per_min: int | None = Field(description="null inherits RATE_LIMIT_PER_MIN.")
    download_rate_limit_per_min: int | None = Field(description="null inherits DOWNLOAD_RATE_LIMIT_PER_MIN.")
    device_count: int = Field(description="Devices that are not destroyed.")
    created_at: datetime
    updated_at: datetime


class AppWithToken(AppOut):
    app_token: str = Field(description="The bearer token (`wag_…`). Shown only now: store it.")


class AppList(Schema):
    apps: list[AppOut]
    count: int


class DeletedApp(AppOut):
    devices_destroyed: int = Field(description="Live devices destroyed (logged out of WhatsApp) by this call.")


class AppSettings(Body):
    webhook_url: str | None = Field(None, max_length=2000,
                                    description="Absolute http(s) URL or a path starting with /; empty or null: none.")
    webhook_secret: str | None = Field(None, max_length=200, description="HMAC secret; write-only.")
    webhook_events: list[WebhookEvent] | None = Field(None, description="Empty or null: every event.")
    allowed_contacts: list[Entry] | None = Field(None, max_length=1000,
                                                 description="Phone numbers or JIDs; empty or null inherits.")
    disabled_tools: list[Entry] | None = Field(None, max_length=200, description="Empty or null inherits.")
    rate_limit_per_min: Limit | None = Field(None, description="null inherits the environment default.")
    download_rate_limit_per_min: Limit | None = Field(None, description="null inherits the environment default.")


class CreateApp(AppSettings):
    name: str = Field(min_length=1, max_length=200, description="Unique within the tenant.")


class UpdateApp(AppSettings):
    """Only the fields sent change; ``null`` resets a setting."""

    name: str = Field(None, min_length=1, max_length=200, description="Unique within the tenant.")
    is_active: bool = Field(None, description="False refuses the app's token (its devices keep running).")


def app_out(app: App, **extra: object) -> dict:
    count = getattr(app, "live_devices", None)
    return {
        "app_id": app.pk, "name": app.name, "is_active": app.is_active, "token_hint": app.token_hint,
        "token_issued_at": app.token_issued_at, "webhook_url": app.webhook_url or None,
        "has_webhook_secret": bool(app.webhook_secret), "webhook_events": list(app.webhook_events or []),
        "allowed_contacts": app_services.split_list(app.allowed_contacts),
        "disabled_tools": app_services.split_list(app.disabled_tools),
        "rate_limit_per_min": app.rate_limit_per_min, "download_rate_limit_per_min": app.download_rate_limit_per_min,
        "device_count": count if count is not None else app_services.live_device_count(app),
        "created_at": app.created_at, "updated_at": app.updated_at, **extra,
    }


def _tenant(request: HttpRequest) -> Tenant:
    return request.auth


@router.post("/apps", auth=JWT, response=responses({201: Data[AppWithToken]}, E.CONFLICT, common=APPS_COMMON),
             summary="Create an app; its token is returned once")
def create_app(request: HttpRequest, body: CreateApp) -> Status:
    settings = body.model_dump(exclude={"name"}, exclude_unset=True)
    app, token = app_services.create_app(_tenant(request), body.name, **settings)
    return Status(201, {"data": app_out(app, app_token=token)})


@router.get("/apps", auth=JWT, response=responses({200: Data[AppList]}, common=APPS_COMMON),
            summary="List the tenant's apps")
def list_apps(request: HttpRequest) -> dict:
    items = [app_out(app) for app in app_services.list_apps(_tenant(request))]
    return {"data": {"apps": items, "count": len(items)}}


@router.get("/apps/{app_id}", auth=JWT, response=responses({200: Data[AppOut]}, E.NOT_FOUND, common=APPS_COMMON),
            summary="One app (never its token or webhook secret)")
def get_app(request: HttpRequest, app_id: uuid.UUID) -> dict:
    return {"data": app_out(app_services.get_app(_tenant(request), app_id))}


@router.patch("/apps/{app_id}", auth=JWT,
              response=responses({200: Data[AppOut]}, E.NOT_FOUND, E.CONFLICT, common=APPS_COMMON),
              summary="Update the app's name, webhook, policy or active flag (only the fields sent)")
def update_app(request: HttpRequest, app_id: uuid.UUID, body: UpdateApp) -> dict:
    app = app_services.get_app(_tenant(request), app_id)
    app = app_services.update_app(app, **body.model_dump(exclude_unset=True))
    return {"data": app_out(app)}


@router.delete("/apps/{app_id}", auth=JWT, response=responses({200: Data[DeletedApp]}, E.NOT_FOUND, common=APPS_COMMON),
               summary="Retire the app: destroy its devices (logged out of WhatsApp) and refuse its token")
def delete_app(request: HttpRequest, app_id: uuid.UUID) -> dict:
    deleted = app_services.delete_app(app_services.get_app(_tenant(request), app_id))
    return {"data": app_out(deleted.app, devices_destroyed=deleted.devices_destroyed)}


@router.post("/apps/{app_id}/token:rotate", auth=JWT,
             response=responses({200: Data[AppWithToken]}, E.NOT_FOUND, common=APPS_COMMON),
             summary="Issue a new token (returned once); the old one is refused at once")
def rotate_token(request: HttpRequest, app_id: uuid.UUID) -> dict:
    app = app_services.get_app(_tenant(request), app_id)
    token = app_services.rotate_token(app)
    return {"data": app_out(app, app_token=token)}
