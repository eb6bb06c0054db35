"""What one stage did in one run: counts, time, calls, failures by reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StageSummary:
    name: str
    inputs: int = 0
    skipped_done: int = 0
    written: int = 0
    failed: int = 0
    seconds: float = 0.0
    torn_bytes_dropped: int = 0
    retried: int = 0
    """Inputs that had failed for good and were run again (--retry-failed)."""
    calls: dict[str, Any] = field(default_factory=dict)
    failure_reasons: dict[str, int] = field(default_factory=dict)
    """Failures written in this run, by reason (the part before any parenthesis)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def total_calls(summaries: list[StageSummary]) -> dict[str, dict[str, Any]]:
    """Per-model counters summed over stages (each summary holds its own stage's share)."""
    totals: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        for name, stats in summary.calls.items():
            entry = totals.setdefault(name, {"roles": []})
            for role in stats.get("roles", []):
                if role not in entry["roles"]:
                    entry["roles"].append(role)
            for key, value in stats.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    entry[key] = entry.get(key, 0) + value
    return totals
