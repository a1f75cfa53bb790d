"""The search tree in each backend's syntax, and the reference evaluation every backend must match."""

from __future__ import annotations

import pytest

from whatsapp.search.compile import fts5_expression, tsquery
from whatsapp.search.evaluate import evaluate, matches
from whatsapp.search.nodes import NOTHING, And, Match, Not, Or
from whatsapp.search.parser import parse


def m(*tokens: str, prefix: bool = False) -> Match:
    return Match(tokens, prefix)


@pytest.mark.parametrize(("query", "expression"), [
    ("deadline", '"deadline"'),
    ("deadl*", '"deadl"*'),
    ('"project deadline"', '"project deadline"'),
    ("e-mail*", '"e mail"*'),
    ("a b", '("a") AND ("b")'),
    ("a OR b", '("a") OR ("b")'),
    ("a NOT b", '(("a")) NOT ("b")'),
    ("a NOT b NOT c", '((("a")) NOT ("b")) NOT ("c")'),
    ("(a OR b) NOT c", '((("a") OR ("b"))) NOT ("c")'),
    ("NEAR col:x", '("near") AND ("col x")'),
    ("NOT a", None),          # FTS5's NOT needs a left operand
    ("a OR NOT b", None),
    ("NOT a NOT b", None),
])
def test_fts5_expressions(query: str, expression: str | None) -> None:
    assert fts5_expression(parse(query)) == expression


@pytest.mark.parametrize(("query", "text"), [
    ("deadline", "'deadline'"),
    ("deadl*", "'deadl':*"),
    ('"project deadline"', "'project' <-> 'deadline'"),
    ("e-mail*", "'e' <-> 'mail':*"),
    ("a b", "('a') & ('b')"),
    ("a OR b c", "('a') | (('b') & ('c'))"),
    ("NOT a", "!('a')"),
    ("a NOT (b OR c)", "('a') & (!(('b') | ('c')))"),
])
def test_tsqueries(query: str, text: str) -> None:
    assert tsquery(parse(query)) == text


def test_quotes_and_backslashes_are_escaped_though_tokens_never_hold_them() -> None:
    node = Match(("it's", 'say"x', "back\\slash"))
    assert tsquery(node) == "'it''s' <-> 'say\"x' <-> 'back\\\\slash'"
    assert fts5_expression(node) == '"it\'s say""x back\\slash"'


TOKENS = ["please", "send", "the", "project", "deadline", "by", "e", "mail", "on", "friday"]


@pytest.mark.parametrize(("query", "expected"), [
    ("deadline", True),
    ("DEADLINE", True),
    ("deadlines", False),
    ("deadl*", True),
    ("dead", False),
    ("project deadline", True),
    ("deadline project", True),
    ('"project deadline"', True),
    ('"deadline project"', False),
    ('"the project dead"*', True),
    ('"the dead"*', False),
    ("e-mail", True),
    ("email", False),
    ("mail-e", False),
    ("Friday?", True),
    ("deadline NOT friday", False),
    ("deadline NOT monday", True),
    ("monday OR friday", True),
    ("monday OR tuesday", False),
    ("NOT monday", True),
    ("(monday OR friday) please", True),
    ("???", False),
])
def test_reference_evaluation(query: str, expected: bool) -> None:
    assert evaluate(parse(query), TOKENS) is expected


def test_a_phrase_cannot_run_past_the_end() -> None:
    assert not evaluate(m("friday", "next"), TOKENS)
    assert evaluate(m("on", "fri", prefix=True), TOKENS)


def test_messages_without_text_are_never_hits() -> None:
    assert evaluate(Not(m("x")), [])
    assert not matches(Not(m("x")), [])
    assert not matches(NOTHING, TOKENS)
    assert matches(Or((m("x"), m("send"))), TOKENS)
    assert not matches(And((m("x"), m("send"))), TOKENS)
