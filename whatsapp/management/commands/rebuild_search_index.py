"""``manage.py rebuild_search_index``: rebuild the message search index, or check it first."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from whatsapp.search.index import ensure_index, rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the full-text message search index (PostgreSQL tsvector + GIN, SQLite FTS5) from the "
        "stored messages: every message's search text is recomputed and the index and its triggers are "
        "created anew. With --check, only rebuild when the index is missing, broken or out of date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true",
                            help="Verify the whole index against the messages; rebuild only if needed.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = ensure_index(verify=True) if options["check"] else rebuild()
        for problem in report.problems:
            self.stdout.write(f"problem: {problem}")
        if report.rebuilt:
            self.stdout.write(self.style.SUCCESS(
                f"Search index rebuilt ({report.vendor}); {report.recomputed} message(s) re-tokenised."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Search index is sound ({report.vendor})."))
        if report.filled:
            self.stdout.write(f"{report.filled} pending message(s) indexed.")
