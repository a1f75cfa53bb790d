"""Full-text search over message bodies and captions (SPEC §8).

Adds ``Message.search_text`` (the body's normalised tokens), then, per database vendor, the index and
the triggers that keep it in step with every write (see ``whatsapp.search.index``):

* PostgreSQL: a ``search_vector`` tsvector column computed by a trigger from ``search_text``, GIN-indexed;
* SQLite: an FTS5 table over ``search_text`` (external content, rowid = message id) and its triggers.

Existing rows are backfilled (``search_text`` computed in Python with the search tokenizer, then the
index built over them). Reversing drops the structures and the column.
"""

from django.db import migrations

import whatsapp.search.fields
from whatsapp.search import index


def forwards(apps, schema_editor):
    index.install(schema_editor.connection, apps.get_model("whatsapp", "Message"))


def backwards(apps, schema_editor):
    index.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("whatsapp", "0005_throttles"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="search_text",
            field=whatsapp.search.fields.SearchTextField(
                help_text="The body's search tokens (whatsapp.search); NULL until indexed."),
        ),
        migrations.RunPython(forwards, backwards),
    ]
