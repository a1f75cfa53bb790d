"""The one tokenizer of indexed text and queries: Unicode-aware, case- and accent-folded, split on
everything that is not a letter, digit or mark, within the limits both index engines accept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp.search.tokenizer import (
    FILLER,
    MAX_INDEX_CHARS,
    MAX_INDEX_TOKENS,
    MAX_OCCURRENCES,
    MAX_TOKEN_CHARS,
    index_text,
    index_tokens,
    tokenize,
)


@pytest.mark.parametrize(("text", "tokens"), [
    ("Project Deadline", ["project", "deadline"]),
    ("e-mail", ["e", "mail"]),
    ("C++", ["c"]),
    ("it's", ["it", "s"]),
    ("it\u2019s", ["it", "s"]),  # typographic apostrophe
    ("Friday?", ["friday"]),
    ("Café DÉJÀ vu", ["cafe", "deja", "vu"]),
    ("naïve Ångström", ["naive", "angstrom"]),
    ("Straße", ["strasse"]),
    ("ＡＢＣ１２３", ["abc123"]),  # noqa: RUF001 - full-width forms fold to ASCII
    ("ﬁle", ["file"]),
    ("㎒", ["mhz"]),
    ("İstanbul", ["istanbul"]),
    ("Ελληνικά ΣΊΣΥΦΟΣ", ["ελληνικα", "σισυφοσ"]),
    ("Привет, мир!", ["привет", "мир"]),
    ("東京都に行く", ["東", "京", "都", "に", "行", "く"]),
    ("snake_case", ["snake", "case"]),
    ("user@example.com https://x.org/a?b=1", ["user", "example", "com", "https", "x", "org", "a", "b", "1"]),
    ("3.14 1,000", ["3", "14", "1", "000"]),
    ("emoji 🎉 party", ["emoji", "party"]),
    ("tab\tnew\nline", ["tab", "new", "line"]),
    ("", []),
    ("???", []),
    ("'\":&|!()-^*", []),
])
def test_tokens(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_long_tokens_are_cut_the_same_way_everywhere() -> None:
    word = "x" * (MAX_TOKEN_CHARS + 10)
    assert tokenize(word) == ["x" * MAX_TOKEN_CHARS]
    assert index_tokens(word) == tokenize(word)


def test_index_text_is_tokens_between_single_spaces() -> None:
    assert index_text("  Hello,   World! ") == "hello world"
    assert index_text("") == index_text(None) == ""


def test_occurrences_past_the_limit_keep_their_position_but_match_nothing() -> None:
    tokens = index_tokens(" ".join(["ha"] * (MAX_OCCURRENCES + 2) + ["end"]))
    assert tokens[:MAX_OCCURRENCES] == ["ha"] * MAX_OCCURRENCES
    assert tokens[MAX_OCCURRENCES:] == [FILLER, FILLER, "end"]
    assert tokenize(FILLER) == []  # no query can ever produce it


def test_index_holds_at_most_max_tokens() -> None:
    text = " ".join(f"w{i}" for i in range(MAX_INDEX_TOKENS + 5))
    tokens = index_tokens(text)
    assert len(tokens) == MAX_INDEX_TOKENS
    assert tokens[-1] == f"w{MAX_INDEX_TOKENS - 1}"


def test_index_holds_at_most_max_chars() -> None:
    word = "y" * MAX_TOKEN_CHARS
    tokens = index_tokens(" ".join(f"{word}{i}" for i in range(MAX_INDEX_CHARS // MAX_TOKEN_CHARS + 10)))
    assert sum(map(len, tokens)) <= MAX_INDEX_CHARS
    assert len(tokens) == MAX_INDEX_CHARS // MAX_TOKEN_CHARS


@given(st.text(max_size=80))
def test_tokenizing_tokens_changes_nothing(text: str) -> None:
    """Idempotent: the stored index text, tokenised again (as a query would be), is itself."""
    tokens = tokenize(text)
    assert tokenize(" ".join(tokens)) == tokens
    assert all(token and " " not in token for token in tokens)


@given(st.text(max_size=80))
def test_tokens_hold_only_letters_digits_and_marks(text: str) -> None:
    """What both engines rely on: no quote, backslash, space or ASCII punctuation in a token (FTS5's
    ascii tokenizer keeps such a token whole; tsquery quoting is never stressed)."""
    for token in tokenize(text):
        assert all(char.isalnum() or not char.isascii() for char in token), token
        assert FILLER not in token


@given(st.text(max_size=40))
def test_case_folding_first_changes_nothing(text: str) -> None:
    assert tokenize(text.casefold()) == tokenize(text)
