"""Writing each row's own values in one UPDATE.

The runner records a whole batch of outcomes at once (every message its own WhatsApp id and time,
every command its own result). Django's ``bulk_update`` writes exactly that, but builds and resolves
a ``When(pk=…)`` expression per object and field, which costs more CPU than the database spends on
the statement and made recording slower than sending. This writes the same single statement —
``SET col = CASE pk WHEN … THEN … END`` per field — as plain SQL, with the values prepared by the
fields themselves (JSON encoders, time zones), so the rows written are the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router


def update_each(objects: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of each of ``objects`` (one model, saved rows) as they are in memory.
    Returns the number of rows updated. One statement per batch of the backend's parameter limit."""
    if not objects or not fields:
        return 0
    model = type(objects[0])
    opts = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    pk_column = quote(opts.pk.column)
    targets = [opts.get_field(name) for name in fields]
    cast = connection.features.requires_casted_case_in_updates  # PostgreSQL: CASE over literals is text
    batch = max(1, connection.ops.bulk_batch_size(["pk", "pk", *fields], objects))
    updated = 0
    for start in range(0, len(objects), batch):
        chunk = objects[start:start + batch]
        keys = [opts.pk.get_db_prep_value(obj.pk, connection) for obj in chunk]
        assignments, params = [], []
        for field in targets:
            whens = " ".join(["WHEN %s THEN %s"] * len(chunk))
            for obj, key in zip(chunk, keys, strict=True):
                params += [key, field.get_db_prep_save(getattr(obj, field.attname), connection)]
            case = f"CASE {pk_column} {whens} END"
            if cast:
                case = f"CAST({case} AS {field.cast_db_type(connection)})"
            assignments.append(f"{quote(field.column)} = {case}")
        placeholders = ", ".join(["%s"] * len(keys))
        sql = f"UPDATE {quote(opts.db_table)} SET {', '.join(assignments)} WHERE {pk_column} IN ({placeholders})"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *keys])
            updated += cursor.rowcount
    return updated


def insert_one(model: type[models.Model], **values: object) -> None:
    """One INSERT of ``values`` (every column without a database default must be given), without
    the ORM's per-object machinery (instance, signals, RETURNING): for hot paths that write a row
    per message and need nothing back. Database errors (a unique violation) surface as usual."""
    opts = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    fields = [opts.get_field(name) for name in values]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values.values(), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES ({placeholders})", params)
