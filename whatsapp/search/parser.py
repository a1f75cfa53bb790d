"""The search query language (seed 000, reference/mcp-tools.md §2.6), parsed into :mod:`nodes`.

* Terms separated by spaces are all required (implicit AND).
* ``AND``, ``OR`` and ``NOT`` in upper case are operators; in any other case they are words.
  ``NOT`` binds tightest, then AND (explicit or implicit), then OR: ``a OR b c`` is ``a OR (b AND c)``
  and ``deadline NOT friday`` is ``deadline AND NOT friday``.
* ``"…"`` is a phrase; a quote left open closes at the end of the query.
* A ``*`` after a term's last letter or digit makes the term's last token a prefix (``deadl*``,
  ``e-mail*``, ``"project dead"*``); elsewhere ``*`` is punctuation.
* Parentheses group (nested up to :data:`MAX_DEPTH` levels; deeper ones are ignored); an unmatched
  ``)`` is ignored and an unclosed ``(`` closes at the end.
* Every term is split by the index's own tokenizer, so ``e-mail`` is the phrase ``e mail``, ``C++``
  is ``c`` and ``Friday?`` is ``friday``. A term with no token at all (``???``, ``*``) drops out of
  the query; a query left with nothing matches nothing.
* An operator without its operands (``foo AND``, ``NOT``, ``OR bar``) is a plain word.

Whatever the text, :func:`parse` returns a tree; the only errors are a blank query
(``VALIDATION_ERROR``) and one over :data:`MAX_QUERY_CHARS` (``SEARCH_QUERY_TOO_LONG``).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.search.nodes import NOTHING, And, Match, Node, Not, Or
from whatsapp.search.tokenizer import tokenize

__all__ = ["MAX_DEPTH", "MAX_QUERY_CHARS", "OPERATORS", "parse", "validate_query"]

MAX_QUERY_CHARS = 200
MAX_DEPTH = 16
OPERATORS = frozenset({"AND", "OR", "NOT"})


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # "word", "phrase", "(" or ")"
    text: str = ""
    prefix: bool = False


def validate_query(query: object) -> str:
    """``query`` when it is a non-blank string of at most :data:`MAX_QUERY_CHARS` characters."""
    if not isinstance(query, str) or not query.strip():
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "query must be a non-empty search text.",
                            details={"field": "query"})
    if len(query) > MAX_QUERY_CHARS:
        raise WhatsAppError(ErrorCode.SEARCH_QUERY_TOO_LONG,
                            f"The search query has {len(query)} characters; at most {MAX_QUERY_CHARS} are allowed.",
                            details={"field": "query", "max": MAX_QUERY_CHARS, "length": len(query)})
    return query


def parse(query: str) -> Node:
    """The query's tree (see the module docstring). Never fails on the query's content."""
    return _Parser(_balance(_lex(validate_query(query)))).parse()


def _ends_with_star(text: str) -> bool:
    """Whether a ``*`` follows the last letter, digit or mark of ``text``."""
    for char in reversed(text):
        if char == "*":
            return True
        if unicodedata.category(char)[0] in "LNM":
            return False
    return False


def _lex(query: str) -> list[_Lexeme]:
    lexemes: list[_Lexeme] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char == '"':
            end = query.find('"', i + 1)
            end = n if end < 0 else end
            content, i = query[i + 1:end], end + 1
            star_after = i < n and query[i] == "*"
            while i < n and query[i] == "*":
                i += 1
            lexemes.append(_Lexeme("phrase", content, star_after or _ends_with_star(content)))
        elif char in "()":
            lexemes.append(_Lexeme(char))
            i += 1
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] not in '"()':
                i += 1
            lexemes.append(_Lexeme("word", query[start:i]))
    return lexemes


def _balance(lexemes: list[_Lexeme]) -> list[_Lexeme]:
    """Drop every ``)`` without its ``(`` and every parenthesis pair nested deeper than MAX_DEPTH
    (unclosed ``(`` are closed by the parser at the end)."""
    kept: list[_Lexeme] = []
    open_kept: list[bool] = []  # per open "(": whether it was kept
    for lexeme in lexemes:
        if lexeme.kind == "(":
            keep = sum(open_kept) < MAX_DEPTH
            open_kept.append(keep)
            if keep:
                kept.append(lexeme)
        elif lexeme.kind == ")":
            if open_kept and open_kept.pop():
                kept.append(lexeme)
        else:
            kept.append(lexeme)
    return kept


def _term(text: str, prefix: bool) -> Node | None:
    tokens = tuple(tokenize(text))
    return Match(tokens, prefix) if tokens else None


def _combine(kind: type[And] | type[Or], items: list[Node | None]) -> Node | None:
    """``items`` under one ``kind`` node: empty operands dropped, nested same-kind nodes flattened,
    repeats removed; ``None`` when nothing is left, the item itself when one is."""
    children: dict[Node, None] = {}
    for item in items:
        if item is None:
            continue
        for child in item.children if isinstance(item, kind) else (item,):
            children[child] = None
    if not children:
        return None
    if len(children) == 1:
        return next(iter(children))
    return kind(tuple(children))


def _negate(node: Node | None) -> Node | None:
    if node is None:
        return None
    return node.child if isinstance(node, Not) else Not(node)


class _Parser:
    """Recursive descent over the lexemes; recursion is bounded by MAX_DEPTH (NOT chains loop)."""

    def __init__(self, lexemes: list[_Lexeme]) -> None:
        self.lexemes = lexemes
        self.pos = 0

    def parse(self) -> Node:
        parts = []
        while self.pos < len(self.lexemes):
            parts.append(self._or())
            if self._peek_is(")"):  # unreachable after _balance; kept so no input can loop forever
                self.pos += 1
        return _combine(And, parts) or NOTHING

    def _peek(self, offset: int = 0) -> _Lexeme | None:
        index = self.pos + offset
        return self.lexemes[index] if index < len(self.lexemes) else None

    def _peek_is(self, kind: str) -> bool:
        lexeme = self._peek()
        return lexeme is not None and lexeme.kind == kind

    def _operator(self, name: str) -> bool:
        """Whether the next lexeme is the operator ``name`` with an operand after it."""
        lexeme, after = self._peek(), self._peek(1)
        return (lexeme is not None and lexeme.kind == "word" and lexeme.text == name
                and after is not None and after.kind != ")")

    def _or(self) -> Node | None:
        items = [self._and()]
        while self._operator("OR"):
            self.pos += 1
            items.append(self._and())
        return _combine(Or, items)

    def _and(self) -> Node | None:
        items = [self._unary()]
        while True:
            lexeme = self._peek()
            if lexeme is None or lexeme.kind == ")" or self._operator("OR"):
                break
            if self._operator("AND"):
                self.pos += 1
            items.append(self._unary())
        return _combine(And, items)

    def _unary(self) -> Node | None:
        negations = 0
        while self._operator("NOT"):
            self.pos += 1
            negations += 1
        node = self._atom()
        for _ in range(negations):
            node = _negate(node)
        return node

    def _atom(self) -> Node | None:
        lexeme = self._peek()
        if lexeme is None or lexeme.kind == ")":
            return None  # an empty group "()": no operand
        self.pos += 1
        if lexeme.kind == "(":
            node = self._or()
            if self._peek_is(")"):
                self.pos += 1
            return node
        if lexeme.kind == "phrase":
            return _term(lexeme.text, lexeme.prefix)
        return _term(lexeme.text, _ends_with_star(lexeme.text))
