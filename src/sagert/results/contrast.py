"""How many contrast pairs a training set takes: `share` of it, the rest harmful pairs.

With h harmful pairs and a share s, the set holds c contrast pairs where c / (h + c) = s, so
c = s * h / (1 - s), rounded to the nearest pair; fewer when fewer were validated. The
generation stage, the export and every summary use this one rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

CONTRAST_KIND = "contrast"
HARMFUL_KIND = "harmful"


def contrast_target(harmful: int, share: float) -> int:
    """Contrast pairs wanted beside `harmful` harmful pairs (0 when either is 0)."""
    if harmful <= 0 or share <= 0:
        return 0
    return max(1, round(share * harmful / (1.0 - share)))


def candidates_wanted(target: int, oversample: float) -> int:
    """Candidate prompts to make so that about `target` pairs pass validation."""
    return math.ceil(target * oversample) if target > 0 else 0


def contrast_taken(harmful: int, share: float, available: int) -> int:
    """What the export takes: the target, or all there are when fewer were validated."""
    return min(available, contrast_target(harmful, share))


def mix_positions(harmful: int, contrast: int) -> list[bool]:
    """Where the contrast rows go among the harmful ones (True: a contrast row), spread
    evenly, so any prefix of the training file has about the configured share."""
    total = harmful + contrast
    if contrast == 0:
        return [False] * total
    out: list[bool] = []
    placed = 0
    for i in range(total):
        due = round((i + 1) * contrast / total)
        take = due > placed
        out.append(take)
        placed += int(take)
    return out


def interleaved(
    harmful: Iterable[T], contrast: Iterable[T], n_harmful: int, n_contrast: int
) -> Iterator[T]:
    """`n_harmful` harmful and `n_contrast` contrast items, spread by `mix_positions` (the one
    order the export and every alignment round use)."""
    h, c = iter(harmful), iter(contrast)
    for is_contrast in mix_positions(n_harmful, n_contrast):
        yield next(c) if is_contrast else next(h)


def share_line(data: dict[str, Any]) -> str:
    """One line on the contrast pairs of an export: counts and the share reached."""
    harmful, contrast = int(data.get("harmful", 0)), int(data.get("contrast", 0))
    total = harmful + contrast
    got = 100 * contrast / total if total else 0.0
    wanted = 100 * float(data.get("share", 0.0))
    return (
        f"contrast pairs (benign prompts that look harmful; helpful chosen, refusal rejected):"
        f" {contrast} of {total} = {got:.1f}% of the training set (configured {wanted:.0f}%;"
        f" {data.get('available', contrast)} validated)"
    )
