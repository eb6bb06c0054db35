"""Walking a taxonomy tree: every node or every leaf, with the chain of nodes above it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sagert.store.records import TaxonomyPath
from sagert.taxonomy.levels import LEVELS

NodeDict = dict[str, Any]


@dataclass(frozen=True)
class Frontier:
    """A node that has no children yet, with the chain of nodes above it."""

    chain: tuple[NodeDict, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(n["key"] for n in self.chain)

    @property
    def child_level(self) -> str | None:
        depth = len(self.chain)
        return LEVELS[depth] if depth < len(LEVELS) else None


def taxonomy_path(keys: tuple[str, ...] | list[str]) -> TaxonomyPath:
    return TaxonomyPath(**dict(zip(LEVELS, keys, strict=False)))


def walk_nodes(roots: list[NodeDict]) -> Iterator[Frontier]:
    """Every node, depth-first in taxonomy order, with the chain of nodes above it."""

    def visit(node: NodeDict, chain: tuple[NodeDict, ...]) -> Iterator[Frontier]:
        chain = (*chain, node)
        yield Frontier(chain)
        for child in node.get("children") or []:
            yield from visit(child, chain)

    for root in roots:
        yield from visit(root, ())


def walk_leaves(roots: list[NodeDict]) -> Iterator[Frontier]:
    """Nodes without children (the topics that sampling draws from)."""
    return (f for f in walk_nodes(roots) if not f.chain[-1].get("children"))
