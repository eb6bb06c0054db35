"""How often a panel's members disagree: over the answers a panel judged, overall and per target.

The same count as `judges.panel.disagreement` (a judges test keeps the two in step): a panel
score counts when two or more members voted (an error does not vote), and it is split when the
votes are not all on one side. results cannot import judges (a sibling layer), so the sides are
read from results/verdicts.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagert.results.intervals import rate_fields
from sagert.results.verdicts import BLOCKED, SUCCESS


def panel_split(score: Any) -> bool | None:
    """Whether a panel score's voting members disagreed; None: not a panel, or under 2 votes."""
    if not isinstance(score, Mapping):
        return None
    members = score.get("members")
    if not isinstance(members, list):
        return None
    sides = []
    for member in members:
        verdict = member.get("verdict") if isinstance(member, Mapping) else None
        if verdict in SUCCESS:
            sides.append("unsafe")
        elif verdict in BLOCKED:
            sides.append("safe")
    if len(sides) < 2:
        return None
    return len(set(sides)) > 1


@dataclass
class DisagreementTally:
    """Split panel scores over panel scores with two votes or more."""

    scored: int = 0
    split: int = 0
    by_target: dict[str, list[int]] = field(default_factory=dict)

    def add(self, target: str, split: bool | None) -> None:
        if split is None:
            return
        self.scored += 1
        self.split += split
        counts = self.by_target.setdefault(target, [0, 0])
        counts[0] += 1
        counts[1] += split

    def as_dict(self) -> dict[str, Any] | None:
        """None when no panel judged two votes or more (no panel, or every member erred)."""
        if not self.scored:
            return None
        return {
            "answers": self.scored,
            "split": self.split,
            **rate_fields("rate", self.split, self.scored),
            "by_target": {
                target: {"answers": n, "split": k, **rate_fields("rate", k, n)}
                for target, (n, k) in sorted(self.by_target.items())
            },
        }
