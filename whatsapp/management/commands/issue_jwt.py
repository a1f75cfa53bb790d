"""``manage.py issue_jwt --tenant <slug-or-uuid>``: a JWT for the tenant's ``/apps`` API.

    python manage.py issue_jwt --tenant acme                       # existing tenant, 30 days
    python manage.py issue_jwt --tenant acme --ttl-days 1
    python manage.py issue_jwt --tenant acme --create "Acme Corp"   # creates the tenant if needed

Only the token goes to stdout (so ``TOKEN=$(manage.py issue_jwt …)`` works); notes go to stderr.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import slugify

from whatsapp.api import tenant_tokens
from whatsapp.models import Tenant


def find_tenant(ref: str) -> Tenant | None:
    """The tenant whose id or slug is ``ref``."""
    try:
        tenant = Tenant.objects.filter(pk=uuid.UUID(ref)).first()
    except ValueError:
        tenant = None
    return tenant or Tenant.objects.filter(slug=ref).first()


class Command(BaseCommand):
    help = "Print a JWT that lets its bearer manage one tenant's apps (the /apps API)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug or id.")
        parser.add_argument("--ttl-days", type=float, default=30, help="Lifetime in days (default 30).")
        parser.add_argument("--create", metavar="DISPLAY_NAME", default=None,
                            help="Create the tenant (slug from --tenant) with this name when it does not exist.")
        parser.add_argument("--subject", default="operator", help="The token's `sub` claim (who holds it).")

    def handle(self, *args: Any, **options: Any) -> None:
        ref = options["tenant"].strip()
        ttl_days = options["ttl_days"]
        if not ttl_days > 0 or ttl_days > 3650:
            raise CommandError("--ttl-days must be more than 0 and at most 3650.")
        tenant = find_tenant(ref)
        if tenant is None:
            tenant = self._create(ref, options["create"])
        token = tenant_tokens.mint(tenant, ttl=timedelta(days=ttl_days), subject=options["subject"])
        self.stdout.write(token)

    def _create(self, ref: str, name: str | None) -> Tenant:
        if name is None:
            raise CommandError(f"No tenant with slug or id {ref!r}. Pass --create \"Display Name\" to create it.")
        slug = slugify(ref)
        if not slug or slug != ref or len(slug) > 100:
            raise CommandError(f"{ref!r} is not a valid slug for a new tenant (lower-case letters, digits, dashes"
                               + (f"; try {slug!r})." if slug else ")."))
        name = name.strip()
        if not name:
            raise CommandError("--create needs a non-empty display name.")
        tenant = Tenant.objects.create(name=name[:200], slug=slug)
        self.stderr.write(f"Created tenant {tenant.name!r} (slug {tenant.slug}, id {tenant.pk}).")
        return tenant
