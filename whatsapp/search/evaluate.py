"""The meaning of a search tree, in pure Python: whether a message's index tokens match it.

This is the reference every backend must agree with (the tests compare them), and how the service
matches the few messages whose index text is not written yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from whatsapp.search.nodes import And, Match, Node, Not, Nothing, Or

__all__ = ["evaluate", "matches", "matches_phrase"]


def matches_phrase(match: Match, tokens: Sequence[str]) -> bool:
    """Whether ``match``'s tokens occur consecutively in ``tokens`` (the last one as a prefix when
    ``match.prefix``)."""
    *head, last = match.tokens
    width = len(match.tokens)
    for start in range(len(tokens) - width + 1):
        if all(tokens[start + i] == token for i, token in enumerate(head)):
            candidate = tokens[start + width - 1]
            if candidate == last or (match.prefix and candidate.startswith(last)):
                return True
    return False


def evaluate(node: Node, tokens: Sequence[str]) -> bool:
    """Whether a message whose index tokens are ``tokens`` matches ``node``."""
    if isinstance(node, Match):
        return matches_phrase(node, tokens)
    if isinstance(node, And):
        return all(evaluate(child, tokens) for child in node.children)
    if isinstance(node, Or):
        return any(evaluate(child, tokens) for child in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, tokens)
    if isinstance(node, Nothing):
        return False
    raise TypeError(f"not a search node: {node!r}")


def matches(node: Node, tokens: Sequence[str]) -> bool:
    """Whether a message with index tokens ``tokens`` is a hit: search covers messages that have some
    text (a body or a caption), so even ``NOT x`` never returns a message without any."""
    return bool(tokens) and evaluate(node, tokens)
