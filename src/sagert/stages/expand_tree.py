"""The expanded tree: the base taxonomy plus every recorded expansion, level by level, with
near-duplicate siblings and cousins pruned after each level.

One node's proposed children are checked against each other when they come back (`expand`'s
`drop_near_duplicates`); this pass sees a whole level at once, so it also catches a child that
repeats a cousin ("Phishing e-mails" under two sub-categories of one macro category) or a
sibling the word test missed. Similarity is all-MiniLM cosine when sentence embeddings are
installed (`auto`), else MinHash of the names' character shingles. It is a pure function of the
records and settings, recomputed whenever the tree is rebuilt, so a resumed run gets the same
tree; the pruned nodes are listed in the expand stage's manifest entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from sagert.diversity.embeddings import Encoder, embeddings_available, load_encoder
from sagert.generation.similarity import (
    SimilarityMatrix,
    minhash_similarity,
    prune_near_duplicates,
)
from sagert.settings.stages import ExpandStage
from sagert.store.records import Record
from sagert.taxonomy import Taxonomy
from sagert.taxonomy.walk import Frontier, NodeDict, walk_nodes

Pruned = dict[str, object]
Prune = Callable[[list[NodeDict], int], list[Pruned]]


def build_tree(
    base: Taxonomy, records: list[Record], prune: Prune | None = None
) -> tuple[Taxonomy, list[Pruned]]:
    """The base plus every ok expansion, shallow levels first; `prune` runs on each new level."""
    data = base.model_dump(mode="json")
    by_depth: dict[int, dict[tuple[str, ...], list[NodeDict]]] = {}
    for r in records:
        if r.status == "ok" and "children" in r.meta:
            path = tuple(r.meta["path"])
            by_depth.setdefault(len(path), {})[path] = r.meta["children"]
    pruned: list[Pruned] = []
    for depth in sorted(by_depth):
        index = {f.keys: f.chain[-1] for f in walk_nodes(data["roots"])}  # pruned nodes gone
        for path, children in by_depth[depth].items():
            node = index.get(path)
            if node is None or node.get("children"):
                continue  # the base changed under us, pruned, or already expanded: keep as is
            node["children"] = [dict(c, children=[]) for c in children]
        if prune is not None:
            pruned += prune(data["roots"], depth + 1)
    return Taxonomy.model_validate(data), pruned


def prune_level(
    roots: list[NodeDict], depth: int, similarity: SimilarityMatrix, threshold: float
) -> list[Pruned]:
    """Drop nodes at `depth` that repeat an earlier sibling or cousin (same grandparent);
    a parent keeps at least one child, so no node turns back into a leaf."""
    groups: dict[tuple[str, ...], list[Frontier]] = {}
    for f in walk_nodes(roots):
        if len(f.chain) == depth and depth >= 2:
            groups.setdefault(f.keys[: depth - 2], []).append(f)
    dropped: list[Pruned] = []
    for members in groups.values():
        names = [str(f.chain[-1]["name"]) for f in members]
        for dup in prune_near_duplicates(names, similarity, threshold):
            gone, kept = members[dup.index], members[dup.kept]
            parent = gone.chain[-2]
            if len(parent["children"]) <= 1:
                continue
            parent["children"] = [c for c in parent["children"] if c is not gone.chain[-1]]
            dropped.append(
                {
                    "path": list(gone.keys),
                    "name": names[dup.index],
                    "duplicates": list(kept.keys),
                    "duplicate_name": names[dup.kept],
                    "similarity": dup.similarity,
                    "relation": "sibling" if kept.keys[:-1] == gone.keys[:-1] else "cousin",
                }
            )
    return dropped


@dataclass
class NearDuplicatePruner:
    """`prune` for build_tree from the expand settings; the encoder loads once, on first use,
    and each name is encoded once (a rebuilt tree reuses the vectors)."""

    settings: ExpandStage
    method: str = field(init=False)
    _encoder: Encoder | None = field(init=False, default=None)
    _vectors: dict[str, NDArray[np.float32]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        wanted = self.settings.near_duplicates
        if wanted == "auto":
            wanted = "embedding" if embeddings_available() else "minhash"
        self.method = wanted

    @property
    def active(self) -> bool:
        return self.method != "off"

    def __call__(self, roots: list[NodeDict], depth: int) -> list[Pruned]:
        if self.method == "embedding":
            return prune_level(roots, depth, self._cosine, self.settings.embedding_threshold)
        return prune_level(roots, depth, minhash_similarity, self.settings.minhash_threshold)

    def _cosine(self, texts: Sequence[str]) -> NDArray[np.float32]:
        missing = sorted({t for t in texts if t not in self._vectors})
        if missing:
            if self._encoder is None:
                self._encoder = load_encoder()
            for text, vector in zip(missing, self._encoder(missing), strict=True):
                self._vectors[text] = vector
        matrix = np.stack([self._vectors[t] for t in texts])
        sims: NDArray[np.float32] = matrix @ matrix.T
        return sims


def pruner_for(settings: ExpandStage) -> NearDuplicatePruner | None:
    pruner = NearDuplicatePruner(settings)
    return pruner if pruner.active else None
