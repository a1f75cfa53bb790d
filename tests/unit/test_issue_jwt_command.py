"""``manage.py issue_jwt``: prints only a JWT for the tenant's ``/apps`` API, which then works."""

from __future__ import annotations

import io
import time

import jwt
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from tests.factories import make_tenant
from tests.unit.api.conftest import ApiClient
from whatsapp.api import tenant_tokens
from whatsapp.models import Tenant

pytestmark = pytest.mark.django_db


def issue(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_jwt", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def claims_of(token: str) -> dict:
    return jwt.decode(token, settings.JWT_SECRET, algorithms=["HS256"], audience=tenant_tokens.AUDIENCE)


@pytest.mark.parametrize("by", ["slug", "id"])
def test_prints_only_a_token_that_manages_the_tenants_apps(by: str) -> None:
    tenant = make_tenant("Acme", slug="acme")
    out, err = issue("--tenant", tenant.slug if by == "slug" else str(tenant.pk))
    token = out.strip()
    assert out == token + "\n"
    assert token.count(".") == 2
    assert not err
    assert tenant_tokens.tenant_of(token) == tenant
    admin = ApiClient(token)
    created = admin.post("/apps", {"name": "billing"})
    assert created.status_code == 201, created.content
    assert admin.get("/apps").json()["data"]["count"] == 1


def test_ttl_days_sets_the_expiry() -> None:
    make_tenant(slug="acme")
    claims = claims_of(issue("--tenant", "acme", "--ttl-days", "2")[0].strip())
    assert abs(claims["exp"] - (time.time() + 2 * 86400)) < 60
    default = claims_of(issue("--tenant", "acme")[0].strip())
    assert abs(default["exp"] - (time.time() + 30 * 86400)) < 60


def test_an_unknown_tenant_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match=r"No tenant.*--create"):
        issue("--tenant", "nobody")
    assert not Tenant.objects.exists()


def test_create_makes_the_tenant_from_the_slug() -> None:
    out, err = issue("--tenant", "new-co", "--create", "New Co")
    tenant = Tenant.objects.get(slug="new-co")
    assert tenant.name == "New Co"
    assert tenant_tokens.tenant_of(out.strip()) == tenant
    assert "Created tenant" in err  # notes go to stderr, stdout stays the token alone
    again, err_again = issue("--tenant", "new-co", "--create", "Ignored")
    assert Tenant.objects.count() == 1
    assert not err_again
    assert tenant_tokens.tenant_of(again.strip()) == tenant


@pytest.mark.parametrize(("args", "message"), [
    (["--tenant", "Not A Slug", "--create", "X"], "not a valid slug"),
    (["--tenant", "ok-slug", "--create", "  "], "non-empty"),
    (["--tenant", "x", "--ttl-days", "0"], "ttl-days"),
    (["--tenant", "x", "--ttl-days", "-1"], "ttl-days"),
])
def test_bad_arguments_are_refused(args: list[str], message: str) -> None:
    make_tenant(slug="x")
    with pytest.raises(CommandError, match=message):
        issue(*args)
    assert Tenant.objects.count() == 1
