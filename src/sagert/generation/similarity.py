"""Near-duplicate names among siblings (a handful per node, so a pairwise check is cheapest)."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

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
