"""docs/errors.md is generated from the enum; the committed file must match a fresh rendering."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from whatsapp.error_docs import render_markdown
from whatsapp.errors import FAMILIES, ErrorCode

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_committed_doc_matches_the_enum() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_markdown(), (
        "docs/errors.md is stale: run `python manage.py errors --format markdown`"
    )


def test_default_output_is_the_committed_file() -> None:
    assert Path(settings.BASE_DIR) / "docs" / "errors.md" == COMMITTED


def test_generate_into_tmp_path_equals_committed(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "errors.md"
    call_command("errors", "--format", "markdown", "--output", str(target), stdout=StringIO())
    assert target.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")


def test_stdout_output() -> None:
    out = StringIO()
    call_command("errors", "--output", "-", stdout=out)
    assert out.getvalue() == render_markdown()


def test_check_passes_on_the_committed_file() -> None:
    out = StringIO()
    call_command("errors", "--check", stdout=out)
    assert "up to date" in out.getvalue()


def test_check_fails_on_a_modified_copy(tmp_path: Path) -> None:
    copy = tmp_path / "errors.md"
    copy.write_text(COMMITTED.read_text(encoding="utf-8").replace("| 429 |", "| 430 |", 1), encoding="utf-8")
    before = copy.read_text(encoding="utf-8")
    with pytest.raises(CommandError, match="out of date"):
        call_command("errors", "--check", "--output", str(copy), stdout=StringIO())
    assert copy.read_text(encoding="utf-8") == before  # --check writes nothing


def test_check_fails_on_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command("errors", "--check", "--output", str(tmp_path / "absent.md"), stdout=StringIO())


def test_json_lists_every_member() -> None:
    out = StringIO()
    call_command("errors", "--format", "json", stdout=out)
    rows = json.loads(out.getvalue())
    assert [row["code"] for row in rows] == [member.code for member in ErrorCode]
    by_code = {row["code"]: row for row in rows}
    assert by_code["MESSAGE_NOT_CONNECTED"] == {
        "code": "MESSAGE_NOT_CONNECTED",
        "api_code": "device_not_connected",
        "status": 409,
        "category": "client_error",
        "retryable": False,
        "retry_after_s": None,
        "family": "messaging",
        "message": ErrorCode.MESSAGE_NOT_CONNECTED.message,
        "recovery": ErrorCode.MESSAGE_NOT_CONNECTED.recovery,
        "sources": ["seed000", "seed001"],
    }


def test_markdown_content() -> None:
    text = render_markdown()
    assert "do not edit" in text
    assert "python manage.py errors --format markdown" in text
    for category in ("transient", "permanent", "client_error", "unknown"):
        assert f"| `{category}` |" in text
    for title in FAMILIES.values():
        assert f"\n### {title}\n" in text
    for member in ErrorCode:
        assert f"| `{member.code}` | `{member.api_code}` | {member.status} | `{member.category}` |" in text
    assert render_markdown() == text  # deterministic
