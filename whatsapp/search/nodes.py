"""The search AST: what the parser produces and every backend compiles.

Nodes are frozen dataclasses, so equal queries give equal trees (tests compare them directly). The
parser only emits simplified trees: ``And``/``Or`` have at least two children and none of their own
kind, ``Not`` never wraps a ``Not``, and :data:`NOTHING` appears only as the whole query.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NOTHING", "And", "Match", "Node", "Not", "Nothing", "Or"]


@dataclass(frozen=True)
class Match:
    """A term (one token) or a phrase (consecutive tokens); with ``prefix`` the last token need only
    start with ``tokens[-1]`` (``deadl*``, ``"project dead"*``)."""

    tokens: tuple[str, ...]
    prefix: bool = False

    def __post_init__(self) -> None:
        if not self.tokens or not all(self.tokens):
            raise ValueError("a Match needs non-empty tokens")


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Nothing:
    """A query with no searchable token (``???``): it matches no message."""


NOTHING = Nothing()

Node = Match | And | Or | Not | Nothing
