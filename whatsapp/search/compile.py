"""A search tree as each backend's query: an FTS5 ``MATCH`` (SQLite), a ``tsquery`` (PostgreSQL), or
a LIKE condition over the stored index text (the fallback when an index is unusable).

Nothing the user typed reaches SQL: a tree holds only tokens made of letters, digits and marks, and
each is still quoted by the rules of the target syntax. The query strings travel as parameters.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

from django.db.models import BooleanField, Expression, Q
from django.db.models.expressions import RawSQL

from whatsapp.search.nodes import And, Match, Node, Not, Or

__all__ = ["FTS_TABLE", "PADDED", "VectorMatch", "fts5_condition", "fts5_expression", "like_condition",
           "tsquery", "tsquery_condition"]

FTS_TABLE = "whatsapp_message_fts"
VECTOR_COLUMN = "search_vector"
#: The annotation :func:`like_condition` expects: ``' ' || search_text || ' '``.
PADDED = "search_padded"


def _nodes(node: Node) -> None:
    if not isinstance(node, Match | And | Or | Not):
        raise TypeError(f"cannot compile {node!r}")


# --- SQLite FTS5 ----------------------------------------------------------------------------------

def _fts5_string(match: Match) -> str:
    phrase = " ".join(match.tokens).replace('"', '""')
    return f'"{phrase}"' + ("*" if match.prefix else "")


def fts5_expression(node: Node) -> str | None:
    """``node`` as one FTS5 query, or None when FTS5 cannot say it: FTS5's NOT is binary
    (``a NOT b``), so a negation needs a positive sibling under an AND."""
    if isinstance(node, Match):
        return _fts5_string(node)
    if isinstance(node, And):
        positive = [fts5_expression(child) for child in node.children if not isinstance(child, Not)]
        negative = [fts5_expression(child.child) for child in node.children if isinstance(child, Not)]
        if not positive or None in positive or None in negative:
            return None
        expression = " AND ".join(f"({part})" for part in positive)
        for part in negative:
            expression = f"({expression}) NOT ({part})"
        return expression
    if isinstance(node, Or):
        parts = [None if isinstance(child, Not) else fts5_expression(child) for child in node.children]
        return None if None in parts else " OR ".join(f"({part})" for part in parts)
    return None


def fts5_condition(node: Node) -> Q:
    """A condition on messages: the largest parts of ``node`` FTS5 can express each become one
    ``id IN (SELECT rowid … MATCH …)``, joined by SQL's AND/OR/NOT."""
    _nodes(node)
    expression = fts5_expression(node)
    if expression is not None:
        return Q(pk__in=RawSQL(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [expression]))
    if isinstance(node, Not):
        return ~fts5_condition(node.child)
    children = [fts5_condition(child) for child in node.children]  # type: ignore[union-attr]
    return functools.reduce(operator.and_ if isinstance(node, And) else operator.or_, children)


# --- PostgreSQL tsquery ---------------------------------------------------------------------------

def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery(node: Node) -> str:
    """``node`` in ``tsquery`` input syntax (cast with ``::tsquery``: lexemes are taken as they are,
    with no parser or dictionary in between, exactly like the index's)."""
    if isinstance(node, Match):
        lexemes = [_lexeme(token) for token in node.tokens]
        if node.prefix:
            lexemes[-1] += ":*"
        return " <-> ".join(lexemes)
    if isinstance(node, And | Or):
        joiner = " & " if isinstance(node, And) else " | "
        return joiner.join(f"({tsquery(child)})" for child in node.children)
    if isinstance(node, Not):
        return f"!({tsquery(node.child)})"
    raise TypeError(f"cannot compile {node!r}")


class VectorMatch(Expression):
    """``<message>.search_vector @@ <tsquery>`` (the column is the index's, not a model field). The
    table alias is read at compile time, so the condition also holds inside a relabelled subquery."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, query: str) -> None:
        super().__init__()
        self.query = query

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        alias = compiler.quote_name_unless_alias(compiler.query.base_table)
        return f"{alias}.{connection.ops.quote_name(VECTOR_COLUMN)} @@ %s::tsquery", [self.query]


def tsquery_condition(node: Node) -> Q:
    _nodes(node)
    return Q(VectorMatch(tsquery(node)))


# --- LIKE over search_text (fallback) --------------------------------------------------------------

def like_condition(node: Node) -> Q:
    """``node`` as LIKE conditions on :data:`PADDED`. The index text is tokens between single spaces,
    so ``' a b '`` occurs in it exactly when the phrase ``a b`` does, and ``' a b'`` when ``a b*``
    does: the same answers as the index, only slower."""
    _nodes(node)
    if isinstance(node, Match):
        needle = " " + " ".join(node.tokens) + ("" if node.prefix else " ")
        return Q(**{f"{PADDED}__contains": needle})
    if isinstance(node, Not):
        return ~like_condition(node.child)
    children = [like_condition(child) for child in node.children]  # type: ignore[union-attr]
    return functools.reduce(operator.and_ if isinstance(node, And) else operator.or_, children)
