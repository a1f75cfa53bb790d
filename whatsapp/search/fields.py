"""``Message.search_text``: the message's index text, written with the row.

Django writes the field on every ``save()`` and ``bulk_create()`` (``pre_save`` computes it from the
body). Writes that bypass ``pre_save`` (``QuerySet.update(body=…)``, ``bulk_update``, raw SQL) leave
it unchanged, and a database trigger then sets it to NULL: NULL means "not indexed yet", and search
indexes such rows before it runs (``whatsapp.search.index.fill_pending``). So no write path can leave
a stale index text behind, whether or not it knows about search.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from whatsapp.search.tokenizer import index_text

__all__ = ["SearchTextField"]


class SearchTextField(models.TextField):
    """Normalised tokens of ``source`` (a field of the same model) joined by spaces; NULL = pending."""

    def __init__(self, *args: Any, source: str = "body", **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        for key, default in (("null", True), ("blank", True), ("editable", False)):
            value = getattr(self, key)
            if value == default:
                kwargs.pop(key, None)
            else:
                kwargs[key] = value
        if self.source != "body":
            kwargs["source"] = self.source
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = index_text(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value
