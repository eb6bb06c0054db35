"""The MAP-Elites archive: one elite attack per cell (category x style [x language]).

A new attack replaces a cell's elite only when it scores strictly higher. On a tie the one
less similar to the other cells' elites is kept (word 3-shingle Jaccard, what MinHash
estimates, computed exactly: an archive is small), so the archive does not collapse onto
near-duplicates; a tie on both keeps the incumbent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sagert.diversity.text import normalize, shingles

SHINGLE = 3
SEP = " | "


def cell_key(category: str, style: str, language: str | None = None) -> str:
    return SEP.join([category, style, *([language] if language else [])])


@dataclass(frozen=True)
class Elite:
    prompt: str
    """What the target was sent (the attacker's rewrite, the style applied)."""
    request: str
    """The plain request before the style: what the judge reads as the goal."""
    response: str
    score: float
    success: bool
    iteration: int
    step_id: str
    goal: str = ""
    """The seed request this attack descends from: what it must still get the target to do,
    however far the attacker's rewrites drifted (empty in archives written before it)."""

    @property
    def aim(self) -> str:
        return self.goal or self.request


def similarity(a: str, b: str) -> float:
    sa = shingles(normalize(a).split(), SHINGLE)
    sb = shingles(normalize(b).split(), SHINGLE)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


@dataclass
class Archive:
    cells: dict[str, Elite] = field(default_factory=dict)
    iteration: int = 0
    """Iterations finished: the next one to run."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Per iteration: filled cells, successful cells, mean elite score, target calls."""

    def nearest(self, text: str, exclude: str) -> float:
        """The highest similarity of `text` to the elites of the other cells (0 when none)."""
        return max(
            (similarity(text, e.prompt) for k, e in self.cells.items() if k != exclude),
            default=0.0,
        )

    def offer(self, key: str, candidate: Elite) -> bool:
        """Keep `candidate` in cell `key` when it beats the elite; True when it replaced it."""
        incumbent = self.cells.get(key)
        if incumbent is None or candidate.score > incumbent.score:
            self.cells[key] = candidate
            return True
        if candidate.score < incumbent.score:
            return False
        if self.nearest(candidate.prompt, key) < self.nearest(incumbent.prompt, key):
            self.cells[key] = candidate
            return True
        return False

    def snapshot(self, target_calls: int) -> dict[str, Any]:
        elites = list(self.cells.values())
        return {
            "iteration": self.iteration,
            "filled": len(elites),
            "successes": sum(e.success for e in elites),
            "mean_score": sum(e.score for e in elites) / len(elites) if elites else 0.0,
            "target_calls": target_calls,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "cells": {k: asdict(e) for k, e in sorted(self.cells.items())},
            "history": self.history,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Archive:
        cells = {k: Elite(**v) for k, v in data.get("cells", {}).items()}
        return cls(cells, int(data.get("iteration", 0)), list(data.get("history", [])))
