"""Near-duplicate taxonomy names: among one node's proposed children (words and spelling), and
after each expansion round among siblings and cousins (embeddings or MinHash, by the caller)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
from datasketch import MinHash  # type: ignore[import-untyped]
from numpy.typing import NDArray

_WORD = re.compile(r"[a-z0-9]+")


def normalized(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def similar(a: str, b: str, threshold: float) -> bool:
    """Same words (Jaccard of word sets), or a near-identical spelling of a one-word name.

    Character ratios are kept to one-word names: "Card skimming at ATMs" and "Card skimming
    at gas pumps" share most characters but are different children.
    """
    na, nb = normalized(a), normalized(b)
    if na == nb:
        return True
    wa, wb = set(na.split()), set(nb.split())
    if not wa or not wb:
        return False
    if len(wa) == 1 and len(wb) == 1:
        return SequenceMatcher(None, na, nb).ratio() >= threshold
    return len(wa & wb) / len(wa | wb) >= threshold


def drop_near_duplicates(
    names: list[str], threshold: float, existing: list[str] | None = None
) -> tuple[list[int], list[tuple[int, str]]]:
    """Indices to keep, and (index, the name it duplicates) for those dropped."""
    kept: list[int] = []
    dropped: list[tuple[int, str]] = []
    seen = list(existing or [])
    for i, name in enumerate(names):
        match = next((s for s in seen if similar(name, s, threshold)), None)
        if match is not None or not normalized(name):
            dropped.append((i, match or "(empty)"))
            continue
        kept.append(i)
        seen.append(name)
    return kept, dropped


SimilarityMatrix = Callable[[Sequence[str]], NDArray[np.float32]]
"""Texts -> their pairwise similarities (n x n, 0-1): cosine of embeddings, or MinHash Jaccard."""


@dataclass(frozen=True)
class NearDuplicate:
    """A dropped node, the kept one it duplicates, and how alike they are."""

    index: int
    kept: int
    similarity: float


def prune_near_duplicates(
    texts: Sequence[str], similarity: SimilarityMatrix, threshold: float
) -> list[NearDuplicate]:
    """Keep-first over `texts` (taxonomy order): each one at least `threshold` alike a text
    kept before it is dropped, naming that text. One matrix per group (siblings and cousins
    under one grandparent: tens of names), so the whole matrix is cheap."""
    if len(texts) < 2:
        return []
    sims = similarity(texts)
    kept: list[int] = []
    dropped: list[NearDuplicate] = []
    for i in range(len(texts)):
        best = max(kept, key=lambda j: float(sims[i, j]), default=None)
        if best is not None and float(sims[i, best]) >= threshold:
            dropped.append(NearDuplicate(i, best, round(float(sims[i, best]), 3)))
        else:
            kept.append(i)
    return dropped


def shingles(text: str, n: int = 3) -> set[str]:
    """Character n-grams of the normalized name, spaces dropped: "e-mails" and "emails" are
    one spelling, and a one-word change in a four-word name leaves most n-grams shared."""
    joined = normalized(text).replace(" ", "")
    return {joined[i : i + n] for i in range(max(1, len(joined) - n + 1))}


def minhash_similarity(texts: Sequence[str], num_perm: int = 128) -> NDArray[np.float32]:
    """Estimated Jaccard of the names' character shingles (MinHash, seeded: same every run)."""
    hashes = []
    for text in texts:
        m = MinHash(num_perm=num_perm, seed=1)
        for gram in sorted(shingles(text)):
            m.update(gram.encode("utf-8"))
        hashes.append(m)
    n = len(hashes)
    sims = np.eye(n, dtype=np.float32)
    for i in range(n):
        for j in range(i):
            sims[i, j] = sims[j, i] = hashes[i].jaccard(hashes[j])
    return sims
