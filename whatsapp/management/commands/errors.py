"""``manage.py errors``: render the error enum as the committed reference, or check it is current."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, ClassVar

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from whatsapp.error_docs import render_json, render_markdown

STDOUT = "-"


def default_output() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "errors.md"


class Command(BaseCommand):
    help = (
        "Render the error reference from whatsapp.errors.ErrorCode. Markdown goes to docs/errors.md "
        "by default, JSON to stdout; --check compares instead of writing."
    )
    # Pure rendering of an enum: no database, URLs or apps involved, so system checks add nothing
    # (and would make the docs check fail for unrelated reasons).
    requires_system_checks: ClassVar[list[str]] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
        parser.add_argument(
            "--output",
            help=f"File to write or check ('{STDOUT}' for stdout). Default: <BASE_DIR>/docs/errors.md "
            "for markdown, stdout for json.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; fail when the file differs from what the enum renders.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        fmt = options["format"]
        text = render_markdown() if fmt == "markdown" else render_json()
        output = options["output"] or (str(default_output()) if fmt == "markdown" else STDOUT)

        if options["check"]:
            if output == STDOUT:
                raise CommandError("--check needs a file to compare (--output PATH).")
            self._check(Path(output), text, fmt)
            return
        if output == STDOUT:
            self.stdout.write(text, ending="")
            return
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        self.stdout.write(f"Wrote {path}")

    def _check(self, path: Path, expected: str, fmt: str) -> None:
        regenerate = f"python manage.py errors --format {fmt}"
        if path != default_output():
            regenerate += f" --output {path}"
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CommandError(f"{path} does not exist; generate it with `{regenerate}`.") from None
        if current == expected:
            self.stdout.write(f"{path} is up to date.")
            return
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            fromfile=f"{path} (committed)",
            tofile="rendered from whatsapp/errors.py",
            n=1,
        )
        excerpt = "".join(list(diff)[:40])
        raise CommandError(
            f"{path} is out of date with whatsapp.errors.ErrorCode; regenerate it with `{regenerate}`.\n"
            f"{excerpt}"
        )
