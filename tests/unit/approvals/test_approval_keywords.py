"""Which replies approve, which deny, and which decide nothing (reference §3.1 keywords)."""

from __future__ import annotations

import pytest

from approvals.replies import answer_of


@pytest.mark.parametrize("text", ["approve", "APPROVED", "yes", "Ok", "okay", "confirm", "y", "✅", "✔️", "✔",
                                  "yes-man", "ok.", "  Yes please  ", "sure ✅ go", "I approve it"])
def test_approving_replies(text: str) -> None:
    assert answer_of(text) is True


@pytest.mark.parametrize("text", ["deny", "Denied", "no", "reject", "cancel", "n", "❌", "🚫", "NO!", "no, thanks"])
def test_denying_replies(text: str) -> None:
    assert answer_of(text) is False


@pytest.mark.parametrize("text", ["yes or no?", "nobody", "okapi", "yesterday", "know", "nó", "sí", "maybe",
                                  "", "   ", "✅ ❌", "notice", "cancelled", "approval_123_abc"])
def test_replies_that_decide_nothing(text: str) -> None:
    assert answer_of(text) is None
