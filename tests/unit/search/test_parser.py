"""The query language of seed 000 / reference §2.6: every form, and hostile text that must never
raise (only a blank query and one over 200 characters are errors)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.search.nodes import NOTHING, And, Match, Node, Not, Or
from whatsapp.search.parser import MAX_DEPTH, MAX_QUERY_CHARS, parse


def m(*tokens: str, prefix: bool = False) -> Match:
    return Match(tokens, prefix)


FORMS: list[tuple[str, Node]] = [
    # keywords: implicit AND
    ("deadline", m("deadline")),
    ("deadline project", And((m("deadline"), m("project")))),
    ("  Deadline   PROJECT  ", And((m("deadline"), m("project")))),
    # exact phrase
    ('"project deadline"', m("project", "deadline")),
    ('"Project, Deadline!"', m("project", "deadline")),
    ('"one"', m("one")),
    ('before "a phrase" after', And((m("before"), m("a", "phrase"), m("after")))),
    # boolean operators (upper case only)
    ("deadline AND project", And((m("deadline"), m("project")))),
    ("deadline OR meeting", Or((m("deadline"), m("meeting")))),
    ("deadline NOT friday", And((m("deadline"), Not(m("friday"))))),
    ("deadline AND NOT friday", And((m("deadline"), Not(m("friday"))))),
    ("NOT friday", Not(m("friday"))),
    ("a OR NOT b", Or((m("a"), Not(m("b"))))),
    ("NOT NOT a", m("a")),
    ("NOT NOT NOT a", Not(m("a"))),
    ("cats and dogs", And((m("cats"), m("and"), m("dogs")))),
    ("this or that", And((m("this"), m("or"), m("that")))),
    ("not now", And((m("not"), m("now")))),
    ("And Or Not", And((m("and"), m("or"), m("not")))),
    # precedence: NOT > AND > OR
    ("a OR b c", Or((m("a"), And((m("b"), m("c")))))),
    ("a b OR c", Or((And((m("a"), m("b"))), m("c")))),
    ("a OR b AND c", Or((m("a"), And((m("b"), m("c")))))),
    ("a OR b OR c", Or((m("a"), m("b"), m("c")))),
    ("NOT a b", And((Not(m("a")), m("b")))),
    # parentheses
    ("(a OR b) c", And((Or((m("a"), m("b"))), m("c")))),
    ("NOT (a OR b)", Not(Or((m("a"), m("b"))))),
    ("((a))", m("a")),
    ("(a (b (c)))", And((m("a"), m("b"), m("c")))),
    # prefix
    ("deadl*", m("deadl", prefix=True)),
    ("DEADL*", m("deadl", prefix=True)),
    ("deadl**", m("deadl", prefix=True)),
    ("e-mail*", m("e", "mail", prefix=True)),
    ("deadl*?", m("deadl", prefix=True)),
    ('"project dead"*', m("project", "dead", prefix=True)),
    ('"project dead*"', m("project", "dead", prefix=True)),
    ("*deadl", m("deadl")),
    ("dead*line", m("dead", "line")),
    # punctuated terms are tokenised like indexed text
    ("e-mail", m("e", "mail")),
    ("C++", m("c")),
    ("it's", m("it", "s")),
    ("Friday?", m("friday")),
    ("Café", m("cafe")),
    ("DÉJÀ-VU", m("deja", "vu")),
    ("東京", m("東", "京")),
    ("%deadline%", m("deadline")),
    ("col:term", m("col", "term")),
    ("foo(bar)", And((m("foo"), m("bar")))),
]


@pytest.mark.parametrize(("query", "tree"), FORMS)
def test_forms(query: str, tree: Node) -> None:
    assert parse(query) == tree


HOSTILE: list[tuple[str, Node]] = [
    # unbalanced quotes close at the end
    ('"', NOTHING),
    ('""', NOTHING),
    ('"unbalanced phrase', m("unbalanced", "phrase")),
    ('start "open', And((m("start"), m("open")))),
    ('a "b c" "d', And((m("a"), m("b", "c"), m("d")))),
    ('"""', NOTHING),
    # dangling operators are words
    ("foo AND", And((m("foo"), m("and")))),
    ("foo OR", And((m("foo"), m("or")))),
    ("foo NOT", And((m("foo"), m("not")))),
    ("NOT", m("not")),
    ("AND", m("and")),
    ("OR bar", And((m("or"), m("bar")))),
    ("AND bar", And((m("and"), m("bar")))),
    ("AND OR NOT", Or((m("and"), m("not")))),
    ("OR OR OR", m("or")),  # or OR or, and a repeat is one operand
    ("NOT NOT", Not(m("not"))),
    ("foo AND AND bar", And((m("foo"), m("and"), m("bar")))),
    ("(foo AND)", And((m("foo"), m("and")))),
    ("(NOT)", m("not")),
    # characters with a meaning in FTS5, tsquery, LIKE or SQL
    ("*", NOTHING),
    ("**", NOTHING),
    ("???", NOTHING),
    ("'", NOTHING),
    ("''", NOTHING),
    (":", NOTHING),
    ("&", NOTHING),
    ("|", NOTHING),
    ("!", NOTHING),
    ("(", NOTHING),
    (")", NOTHING),
    ("()", NOTHING),
    (")(", NOTHING),
    ("-", NOTHING),
    ("^", NOTHING),
    ("%", NOTHING),
    ("_", NOTHING),
    ("\\", NOTHING),
    (";", NOTHING),
    ("+", NOTHING),
    ("a & b | !c", And((m("a"), m("b"), m("c")))),
    ("foo:*", m("foo", prefix=True)),
    ("'foo' & 'bar'", And((m("foo"), m("bar")))),
    ("foo <-> bar", And((m("foo"), m("bar")))),
    ("foo:A", m("foo", "a")),
    ("-foo", m("foo")),
    ("^foo", m("foo")),
    ("+foo", m("foo")),
    ("NEAR", m("near")),
    ("NEAR(a b)", And((m("near"), m("a"), m("b")))),
    ("NEAR(a b, 3)", And((m("near"), m("a"), m("b"), m("3")))),
    ("a NEAR b", And((m("a"), m("near"), m("b")))),
    ("body:secret", m("body", "secret")),
    ("search_text:x", m("search", "text", "x")),
    ("'; DROP TABLE whatsapp_message; --", And((m("drop"), m("table"), m("whatsapp", "message")))),
    ("1' OR '1'='1", Or((m("1"), m("1", "1")))),
    ('"a""b"', And((m("a"), m("b")))),
    ("\x00 nul", m("nul")),
    # unbalanced parentheses
    ("(a OR b", Or((m("a"), m("b")))),
    ("a OR b)", Or((m("a"), m("b")))),
    ("((a", m("a")),
    ("a)) b", And((m("a"), m("b")))),
    ("(a OR (b c", Or((m("a"), And((m("b"), m("c")))))),
    # noise drops out of the query; nothing left matches nothing
    ("foo ??? bar", And((m("foo"), m("bar")))),
    ("foo AND ???", m("foo")),
    ("foo OR ???", m("foo")),
    ("NOT ???", NOTHING),
    ("( ??? )", NOTHING),
    ("* * *", NOTHING),
]


@pytest.mark.parametrize(("query", "tree"), HOSTILE)
def test_hostile_text_never_raises(query: str, tree: Node) -> None:
    assert parse(query) == tree


@pytest.mark.parametrize("query", ["", " ", "\t\n", "   "])
def test_blank_query_is_a_validation_error(query: str) -> None:
    with pytest.raises(WhatsAppError) as caught:
        parse(query)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert caught.value.details["field"] == "query"


@pytest.mark.parametrize("query", [None, 42, b"bytes"])
def test_a_query_that_is_no_string_is_a_validation_error(query: object) -> None:
    with pytest.raises(WhatsAppError) as caught:
        parse(query)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.VALIDATION_ERROR


def test_two_hundred_characters_is_the_limit() -> None:
    assert parse("a" * MAX_QUERY_CHARS) == m("a" * 64)
    assert parse("é" * MAX_QUERY_CHARS) == m("e" * 64)
    with pytest.raises(WhatsAppError) as caught:
        parse("a" * (MAX_QUERY_CHARS + 1))
    assert caught.value.code is ErrorCode.SEARCH_QUERY_TOO_LONG
    assert caught.value.details == {"field": "query", "max": 200, "length": 201}


def test_deep_nesting_is_flattened_not_recursed() -> None:
    assert parse("(" * 199 + "a") == m("a")
    assert parse("(" * 99 + "a" + ")" * 99) == m("a")
    assert parse("NOT " * 50) == Not(m("not"))
    deep = "(a OR " * 40 + "z"
    tree = parse(deep[:MAX_QUERY_CHARS])
    depth = 0
    while isinstance(tree, Or | And):
        tree, depth = tree.children[-1], depth + 1
    assert depth <= MAX_DEPTH + 1


def _simplified(node: Node) -> bool:
    if isinstance(node, And | Or):
        return (len(node.children) >= 2 and len(set(node.children)) == len(node.children)
                and not any(isinstance(child, type(node)) for child in node.children)
                and all(_simplified(child) for child in node.children))
    if isinstance(node, Not):
        return not isinstance(node.child, Not) and _simplified(node.child)
    return True


QUERY_ALPHABET = st.sampled_from(['"', "(", ")", "*", " ", " ", "AND", "OR", "NOT", "a", "b", "é", "-", "'", ":",
                                  "&", "|", "!", "^", "NEAR", "?", "x", "東"])


@given(st.one_of(st.text(min_size=1, max_size=MAX_QUERY_CHARS),
                 st.lists(QUERY_ALPHABET, min_size=1, max_size=60).map("".join)))
def test_any_text_parses_to_a_simplified_tree(query: str) -> None:
    if not query.strip() or len(query) > MAX_QUERY_CHARS:
        with pytest.raises(WhatsAppError):
            parse(query)
        return
    tree = parse(query)
    assert tree == NOTHING or _simplified(tree)
