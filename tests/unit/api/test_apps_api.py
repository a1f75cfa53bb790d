"""The ``/apps`` administration API (tenant JWT): create (token once), list, read, update, delete
(devices destroyed, token refused), rotate — with every documented error code, the JWT's failure
modes and tenant isolation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import pytest
from django.conf import settings

from audit.models import AuditLog
from tests.factories import connected_device, make_app_with_token, make_device, make_tenant
from tests.unit.api.conftest import ApiClient, error_of
from whatsapp.api import tenant_tokens
from whatsapp.models import App, Device, DeviceStatus, Tenant
from whatsapp.models.tenancy import hash_token

pytestmark = pytest.mark.django_db

SECRET_FIELDS = {"token_hash", "webhook_secret", "app_token"}


@pytest.fixture
def tenant() -> Tenant:
    return make_tenant("Acme", slug="acme")


@pytest.fixture
def admin(tenant) -> ApiClient:
    return ApiClient(tenant_tokens.mint(tenant))


def create(admin: ApiClient, name: str = "billing", **fields):
    response = admin.post("/apps", {"name": name, **fields})
    assert response.status_code == 201, response.content
    return response.json()["data"]


# --- create --------------------------------------------------------------------------------------


def test_create_returns_the_token_once(admin, tenant) -> None:
    data = create(admin, "billing", webhook_url="https://hooks.example.com/wa", webhook_secret="s3cret",
                  webhook_events=["message", "receipt", "message"], allowed_contacts=["+1 (555) 123-4567",
                                                                                       "120363000000000001@g.us"],
                  disabled_tools=["send_file"], rate_limit_per_min=30, download_rate_limit_per_min=5)
    assert data["app_token"].startswith("wag_")
    assert data["token_hint"] == data["app_token"][:10]
    assert data["name"] == "billing"
    assert data["is_active"] is True
    assert data["webhook_url"] == "https://hooks.example.com/wa"
    assert data["has_webhook_secret"] is True
    assert data["webhook_events"] == ["message", "receipt"]
    assert data["allowed_contacts"] == ["15551234567", "120363000000000001@g.us"]
    assert data["disabled_tools"] == ["send_file"]
    assert (data["rate_limit_per_min"], data["download_rate_limit_per_min"]) == (30, 5)
    assert data["device_count"] == 0
    assert not SECRET_FIELDS - {"app_token"} & set(data)
    app = App.objects.get(pk=data["app_id"])
    assert app.tenant == tenant
    assert app.token_hash == hash_token(data["app_token"])
    assert data["app_token"] not in app.token_hash
    assert App.authenticate(data["app_token"]) == app
    assert ApiClient(data["app_token"]).get("/devices").status_code == 200


def test_create_with_the_name_only_inherits_everything(admin) -> None:
    data = create(admin, "plain")
    assert data["webhook_url"] is None
    assert data["has_webhook_secret"] is False
    assert data["webhook_events"] == []
    assert data["allowed_contacts"] is None
    assert data["disabled_tools"] is None
    assert data["rate_limit_per_min"] is None
    assert data["download_rate_limit_per_min"] is None


def test_a_relative_webhook_path_is_accepted(admin) -> None:
    assert create(admin, "rel", webhook_url="/hooks/wa")["webhook_url"] == "/hooks/wa"


def test_a_duplicate_name_in_the_tenant_is_a_conflict(admin, tenant) -> None:
    create(admin, "billing")
    response = admin.post("/apps", {"name": "billing"})
    assert response.status_code == 409
    assert error_of(response) == "conflict"
    assert response.json()["error"]["details"]["field"] == "name"
    assert App.objects.filter(tenant=tenant).count() == 1


def test_the_same_name_in_another_tenant_is_fine(admin) -> None:
    make_app_with_token(make_tenant(), "billing")
    create(admin, "billing")


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": 5}, "name"),
    ({"name": "a", "extra": 1}, "extra"),
    ({"name": "a", "webhook_url": "ftp://example.com/x"}, "webhook_url"),
    ({"name": "a", "webhook_url": "hooks/wa"}, "webhook_url"),
    ({"name": "a", "webhook_url": "//evil.example.com"}, "webhook_url"),
    ({"name": "a", "webhook_events": ["nope"]}, "webhook_events.0"),
    ({"name": "a", "webhook_events": "message"}, "webhook_events"),
    ({"name": "a", "allowed_contacts": ["not a phone"]}, "allowed_contacts"),
    ({"name": "a", "allowed_contacts": ["123@bogus.server"]}, "allowed_contacts"),
    ({"name": "a", "disabled_tools": ["bad name!"]}, "disabled_tools"),
    ({"name": "a", "rate_limit_per_min": 0}, "rate_limit_per_min"),
    ({"name": "a", "download_rate_limit_per_min": -1}, "download_rate_limit_per_min"),
    ({"name": "a", "is_active": False}, "is_active"),
])
def test_create_refuses_bad_input(admin, body: dict, field: str) -> None:
    response = admin.post("/apps", body)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == field
    assert not App.objects.exists()


def test_create_refuses_malformed_json(admin) -> None:
    response = admin.post("/apps", raw="{not json")
    assert response.status_code == 400
    assert error_of(response) == "validation_error"


# --- list and read -------------------------------------------------------------------------------


def test_list_shows_the_tenants_apps_only_without_secrets(admin, tenant) -> None:
    first = create(admin, "one", webhook_secret="s")
    second = create(admin, "two")
    make_device(App.objects.get(pk=first["app_id"]))
    make_app_with_token(make_tenant(), "foreign")
    response = admin.get("/apps")
    assert response.status_code == 200
    body = response.json()["data"]
    assert body["count"] == 2
    assert [item["app_id"] for item in body["apps"]] == [first["app_id"], second["app_id"]]
    assert body["apps"][0]["device_count"] == 1
    assert body["apps"][0]["has_webhook_secret"] is True
    for item in body["apps"]:
        assert not SECRET_FIELDS & set(item)
    assert b"token_hash" not in response.content
    assert b'"s"' not in response.content


def test_read_one_app(admin) -> None:
    created = create(admin, "one")
    response = admin.get(f"/apps/{created['app_id']}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["app_id"] == created["app_id"]
    assert data["token_hint"] == created["token_hint"]
    assert "app_token" not in data


def test_read_an_unknown_app_is_not_found(admin) -> None:
    response = admin.get(f"/apps/{uuid.uuid4()}")
    assert response.status_code == 404
    assert error_of(response) == "not_found"


def test_a_bad_app_id_is_a_validation_error(admin) -> None:
    response = admin.get("/apps/not-a-uuid")
    assert response.status_code == 400
    assert error_of(response) == "validation_error"


# --- update --------------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(admin) -> None:
    created = create(admin, "one", webhook_url="https://a.example.com", webhook_secret="s", rate_limit_per_min=9)
    response = admin.patch(f"/apps/{created['app_id']}", {"name": "renamed", "allowed_contacts": ["+15551234567"]})
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["name"] == "renamed"
    assert data["allowed_contacts"] == ["15551234567"]
    assert data["webhook_url"] == "https://a.example.com"
    assert data["has_webhook_secret"] is True
    assert data["rate_limit_per_min"] == 9


def test_patch_null_resets_to_the_defaults(admin) -> None:
    created = create(admin, "one", webhook_url="https://a.example.com", webhook_secret="s", rate_limit_per_min=9,
                     webhook_events=["message"], disabled_tools=["send_file"])
    response = admin.patch(f"/apps/{created['app_id']}", {
        "webhook_url": None, "webhook_secret": "", "rate_limit_per_min": None, "webhook_events": None,
        "disabled_tools": []})
    data = response.json()["data"]
    assert data["webhook_url"] is None
    assert data["has_webhook_secret"] is False
    assert data["rate_limit_per_min"] is None
    assert data["webhook_events"] == []
    assert data["disabled_tools"] is None
    app = App.objects.get(pk=created["app_id"])
    assert (app.webhook_url, app.webhook_secret, app.disabled_tools) == ("", "", None)


def test_patch_deactivating_refuses_the_token(admin) -> None:
    created = create(admin, "one")
    response = admin.patch(f"/apps/{created['app_id']}", {"is_active": False})
    assert response.json()["data"]["is_active"] is False
    refused = ApiClient(created["app_token"]).get("/devices")
    assert refused.status_code == 401
    assert error_of(refused) == "invalid_api_key"
    admin.patch(f"/apps/{created['app_id']}", {"is_active": True})
    assert ApiClient(created["app_token"]).get("/devices").status_code == 200


def test_patch_to_a_taken_name_is_a_conflict(admin) -> None:
    create(admin, "one")
    two = create(admin, "two")
    response = admin.patch(f"/apps/{two['app_id']}", {"name": "one"})
    assert response.status_code == 409
    assert error_of(response) == "conflict"
    assert App.objects.get(pk=two["app_id"]).name == "two"


def test_patch_to_its_own_name_is_fine(admin) -> None:
    one = create(admin, "one")
    assert admin.patch(f"/apps/{one['app_id']}", {"name": "one"}).status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"name": None}, "name"), ({"name": ""}, "name"), ({"is_active": None}, "is_active"),
    ({"is_active": "maybe"}, "is_active"), ({"token_hash": "x"}, "token_hash"),
    ({"webhook_events": ["bogus"]}, "webhook_events.0"), ({"rate_limit_per_min": 0}, "rate_limit_per_min"),
])
def test_patch_refuses_bad_input(admin, body: dict, field: str) -> None:
    one = create(admin, "one")
    response = admin.patch(f"/apps/{one['app_id']}", body)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == field


def test_patch_an_unknown_app_is_not_found(admin) -> None:
    response = admin.patch(f"/apps/{uuid.uuid4()}", {"name": "x"})
    assert response.status_code == 404
    assert error_of(response) == "not_found"


# --- delete --------------------------------------------------------------------------------------


def test_delete_destroys_the_devices_and_refuses_the_token(admin) -> None:
    created = create(admin, "one")
    app = App.objects.get(pk=created["app_id"])
    live, linking = connected_device(app), make_device(app)
    gone = make_device(app)
    gone.destroy()
    response = admin.delete(f"/apps/{created['app_id']}")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["devices_destroyed"] == 2
    assert data["is_active"] is False
    assert data["device_count"] == 0
    assert {Device.objects.get(pk=d.pk).status for d in (live, linking)} == {DeviceStatus.DESTROYED}
    refused = ApiClient(created["app_token"]).get("/devices")
    assert refused.status_code == 401
    assert error_of(refused) == "invalid_api_key"
    app.refresh_from_db()
    assert app.token_hash != hash_token(created["app_token"])
    # Reactivating a deleted app does not bring its old token back.
    admin.patch(f"/apps/{created['app_id']}", {"is_active": True})
    assert ApiClient(created["app_token"]).get("/devices").status_code == 401
    again = admin.delete(f"/apps/{created['app_id']}")
    assert again.status_code == 200
    assert again.json()["data"]["devices_destroyed"] == 0


def test_delete_an_unknown_app_is_not_found(admin) -> None:
    response = admin.delete(f"/apps/{uuid.uuid4()}")
    assert response.status_code == 404
    assert error_of(response) == "not_found"


# --- rotate --------------------------------------------------------------------------------------


def test_rotation_returns_a_new_token_and_refuses_the_old_one(admin) -> None:
    created = create(admin, "one")
    old = ApiClient(created["app_token"])
    assert old.get("/devices").status_code == 200
    response = admin.post(f"/apps/{created['app_id']}/token:rotate")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["app_token"].startswith("wag_")
    assert data["app_token"] != created["app_token"]
    assert data["token_hint"] == data["app_token"][:10]
    refused = old.get("/devices")
    assert refused.status_code == 401
    assert error_of(refused) == "invalid_api_key"
    assert ApiClient(data["app_token"]).get("/devices").status_code == 200
    assert "app_token" not in admin.get(f"/apps/{created['app_id']}").json()["data"]


def test_rotate_an_unknown_app_is_not_found(admin) -> None:
    response = admin.post(f"/apps/{uuid.uuid4()}/token:rotate")
    assert response.status_code == 404
    assert error_of(response) == "not_found"


# --- authentication and isolation ----------------------------------------------------------------

OPERATIONS = [("get", "/apps"), ("post", "/apps"), ("get", "/apps/{id}"), ("patch", "/apps/{id}"),
              ("delete", "/apps/{id}"), ("post", "/apps/{id}/token:rotate")]


def _call(client: ApiClient, method: str, path: str, app_id: str):
    body = {"name": "new"} if method in ("post", "patch") else None
    return client.request(method, path.format(id=app_id), body)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
@pytest.mark.parametrize("credential", ["none", "app_token", "expired", "wrong_secret", "wrong_audience",
                                        "garbage", "deleted_tenant"])
def test_apps_refuse_anything_but_a_valid_jwt(tenant, method: str, path: str, credential: str) -> None:
    app, app_token = make_app_with_token(tenant, "victim")
    claims = {"iss": tenant_tokens.ISSUER, "aud": tenant_tokens.AUDIENCE, "sub": "x", "tenant_id": str(tenant.pk),
              "exp": 4102444800}
    token = {
        "none": None,
        "app_token": app_token,
        "expired": tenant_tokens.mint(tenant, ttl=timedelta(seconds=-5)),
        "wrong_secret": jwt.encode(claims, "not-the-secret-" + "x" * 32, algorithm="HS256"),
        "wrong_audience": jwt.encode({**claims, "aud": "other"}, settings.JWT_SECRET, algorithm="HS256"),
        "garbage": "abc.def.ghi",
        "deleted_tenant": tenant_tokens.mint(make_tenant()),
    }[credential]
    if credential == "deleted_tenant":
        Tenant.objects.exclude(pk=tenant.pk).delete()
    before = list(App.objects.values_list("pk", "name", "token_hash", "is_active"))
    response = _call(ApiClient(token), method, path, str(app.pk))
    assert response.status_code == 401, response.content
    assert error_of(response) == "unauthorized"
    assert list(App.objects.values_list("pk", "name", "token_hash", "is_active")) == before


def test_an_expired_jwt_says_so(tenant) -> None:
    response = ApiClient(tenant_tokens.mint(tenant, ttl=timedelta(seconds=-5))).get("/apps")
    assert "expired" in response.json()["error"]["message"]


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if "{id}" in op[1]])
def test_another_tenants_app_is_not_found(admin, method: str, path: str) -> None:
    foreign, foreign_token = make_app_with_token(make_tenant(), "foreign")
    connected_device(foreign)
    before = (App.objects.get(pk=foreign.pk).token_hash, App.objects.get(pk=foreign.pk).name,
              list(Device.objects.values_list("status", flat=True)))
    response = _call(admin, method, path, str(foreign.pk))
    assert response.status_code == 404, response.content
    assert error_of(response) == "not_found"
    after = (App.objects.get(pk=foreign.pk).token_hash, App.objects.get(pk=foreign.pk).name,
             list(Device.objects.values_list("status", flat=True)))
    assert after == before
    assert ApiClient(foreign_token).get("/devices").status_code == 200


def test_mutations_are_audited_as_the_tenant(admin, tenant) -> None:
    created = create(admin, "one")
    row = AuditLog.objects.filter(action="POST /apps").latest("pk")
    assert row.success
    assert row.actor == f"tenant:{tenant.pk}"
    assert row.tenant_id == tenant.pk
    assert created["app_token"] not in str(row.details)


def test_the_openapi_document_names_the_jwt_errors() -> None:
    from whatsapp.api.site import api

    paths = api.get_openapi_schema()["paths"]
    for method, path in OPERATIONS:
        documented = paths[path.replace("{id}", "{app_id}")][method]["responses"]
        assert 401 in documented
        assert 400 in documented
        assert 429 not in documented  # the app request limiter does not count JWT calls
