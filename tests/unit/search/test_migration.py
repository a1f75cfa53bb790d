"""Migration 0006 backfills the messages stored before it: their search text, and the index."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("whatsapp", "0005_throttles")]
AFTER = [("whatsapp", "0006_message_search")]


@pytest.mark.django_db(transaction=True)
def test_existing_messages_are_indexed_by_the_migration() -> None:
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    try:
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        app = old.get_model("whatsapp", "App").objects.create(
            tenant=old.get_model("whatsapp", "Tenant").objects.create(name="T", slug="t"), name="a")
        device = old.get_model("whatsapp", "Device").objects.create(app=app, name="d")
        chat = old.get_model("whatsapp", "Chat").objects.create(device=device, jid="1555@s.whatsapp.net")
        Message = old.get_model("whatsapp", "Message")
        for i, body in enumerate(["The project DEADLINE", "an e-mail", ""]):
            Message.objects.create(device=device, chat=chat, wa_id=f"M{i}", direction="in", body=body,
                                   timestamp=timezone.now())

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        from whatsapp.models import Device
        from whatsapp.models import Message as Current
        from whatsapp.search.service import search_messages

        assert dict(Current.objects.values_list("wa_id", "search_text")) == {
            "M0": "the project deadline", "M1": "an e mail", "M2": ""}
        current = Device.objects.get(pk=device.pk)
        assert [m.wa_id for m in search_messages(current, '"project deadline"').hits] == ["M0"]
        assert [m.wa_id for m in search_messages(current, "e-mail").hits] == ["M1"]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
