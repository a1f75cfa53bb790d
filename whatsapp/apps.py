from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_search_index(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """After migrations: the search index exists, matches the messages' structure and has no pending
    rows. SQLite drops triggers when a migration rebuilds the message table, so this also repairs that."""
    from whatsapp.search.index import ensure_index

    ensure_index(using=using)


class WhatsAppConfig(AppConfig):
    name = "whatsapp"
    verbose_name = "WhatsApp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_ensure_search_index, sender=self, dispatch_uid="whatsapp-search-index")
