"""What one stage did in one run: counts, time, calls, failures by reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sagert.engine.calls import sum_calls, sum_roles


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
    """Per model: counters, rates (requests, tokens per second) and its fleet's endpoints."""
    roles: dict[str, Any] = field(default_factory=dict)
    """Per role: calls, tokens, estimated cost and rates (roles that made calls)."""
    failure_reasons: dict[str, int] = field(default_factory=dict)
    """Failures written in this run, by reason (the part before any parenthesis)."""
    stopped: str | None = None
    """Why the stage stopped before its inputs ran out (a budget), in one line."""
    deferred: int = 0
    """Records in flight when a budget stopped it: not written, the next run does them."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stopped_by(summaries: list[StageSummary]) -> str | None:
    """The one line saying why a run stopped early (a budget), or None if it did not."""
    return next((s.stopped for s in summaries if s.stopped), None)


def total_calls(summaries: list[StageSummary]) -> dict[str, dict[str, Any]]:
    """Per-model counters summed over stages (each summary holds its own stage's share), with
    rates over the time of the stages that called each model."""
    return sum_calls([s.calls for s in summaries])


def total_roles(summaries: list[StageSummary]) -> dict[str, dict[str, Any]]:
    """Per-role calls, tokens, cost and rates summed over stages."""
    return sum_roles([s.roles for s in summaries])
