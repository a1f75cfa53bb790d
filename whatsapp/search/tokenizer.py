"""The one tokenizer of message text and of search queries.

Indexed text and query terms go through the same function, so a term matches exactly when the
tokens are equal, whatever the backend: text is NFKD-normalised, case-folded and stripped of
combining marks (``Café`` → ``cafe``, full-width ``ABC`` → ``abc``, ``ﬁle`` → ``file``), then split on
everything that is not a letter, a number or a (non-combining) mark, so ``e-mail`` is the two tokens
``e`` ``mail`` and ``it's`` is ``it`` ``s``. Han ideographs and kana are tokens of one character each
(those scripts put no spaces between words), so a word of them is found as a phrase of characters.

The index stores a message's tokens joined by single spaces (:func:`index_text`). The limits below
keep every token and every document within what both index engines accept (a PostgreSQL lexeme has
at most 256 positions, each at most 16383, and a ``tsvector`` at most 1 MB of lexemes); they are
applied here, once, so the Python reference evaluation, FTS5 and PostgreSQL see the same tokens.
Occurrences of a token beyond the 256th become :data:`FILLER`, which keeps later positions (phrases
still line up) but can never equal a query token.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

__all__ = ["FILLER", "MAX_INDEX_CHARS", "MAX_INDEX_TOKENS", "MAX_OCCURRENCES", "MAX_TOKEN_CHARS",
           "index_text", "index_tokens", "normalize", "tokenize"]

#: A token longer than this is cut to it (in the index and in queries alike).
MAX_TOKEN_CHARS = 64
#: Tokens after this many are not indexed (PostgreSQL's largest word position is 16383).
MAX_INDEX_TOKENS = 16383
#: Tokens are indexed while their characters add up to at most this (a tsvector holds ≤ 1 MB).
MAX_INDEX_CHARS = 200_000
#: Occurrences of one token after this many are indexed as FILLER (PostgreSQL keeps 256 positions).
MAX_OCCURRENCES = 256
#: Stands in for an occurrence that is not indexed. A symbol, which the tokenizer never emits.
FILLER = "\u2400"

_IDEOGRAPHIC = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
                (0x20000, 0x3134F))


def _is_ideographic(code: int) -> bool:
    return any(low <= code <= high for low, high in _IDEOGRAPHIC)


class _Classes(dict):
    """``str.translate`` table, filled on first sight of each code point: combining marks vanish,
    letters, numbers and other marks stay, ideographs and kana stand alone, the rest is a space."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if unicodedata.combining(char):
            value = ""
        elif unicodedata.category(char)[0] not in "LNM":
            value = " "
        elif _is_ideographic(code):
            value = f" {char} "
        else:
            value = char
        self[code] = value
        return value


_CLASSES = _Classes()


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).translate(_CLASSES)


def normalize(text: str) -> str:
    """``text`` decomposed (NFKD), case-folded, without combining marks, non-word characters as spaces.

    Folding and decomposing twice: NFKD can produce upper case (``㎒`` → ``MHz``) and case folding
    can produce combining marks (``ǰ`` → ``ǰ``); a second pass reaches the fixed point."""
    return _fold(_fold(text).casefold())


def tokenize(text: str) -> list[str]:
    """The tokens of ``text``, in order (each cut to :data:`MAX_TOKEN_CHARS`)."""
    return [token[:MAX_TOKEN_CHARS] for token in normalize(text).split()]


def index_tokens(text: str) -> list[str]:
    """The tokens of ``text`` as the index holds them: at most :data:`MAX_INDEX_TOKENS` tokens of at
    most :data:`MAX_INDEX_CHARS` characters in all, occurrences after the 256th of a token replaced
    by :data:`FILLER`. Position ``i`` here is word position ``i + 1`` in the index."""
    tokens: list[str] = []
    seen: Counter[str] = Counter()
    chars = 0
    for token in tokenize(text):
        chars += len(token)
        if len(tokens) >= MAX_INDEX_TOKENS or chars > MAX_INDEX_CHARS:
            break
        seen[token] += 1
        tokens.append(token if seen[token] <= MAX_OCCURRENCES else FILLER)
    return tokens


def index_text(text: str | None) -> str:
    """What is stored as a message's ``search_text``: its index tokens joined by single spaces."""
    return " ".join(index_tokens(text or ""))
