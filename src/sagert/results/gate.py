"""The prompt gate's figures: how many prompts still ask for harm, per gate and per operator.

Read from a gate's stage file (every record, resumed ones too): `ok` is a harmful prompt passed
on, `filtered` a benign one set aside (not harmful, or no longer asking what its seed asked),
`failed` a judge error, counted apart and never in the rate; under `on_error: keep` a judge
error is an `ok` record marked unjudged, passed on, counted among the errors and as unjudged,
never harmful. harmful_rate = harmful / (harmful + benign), with a Wilson 95% interval. A
prompt counts once under each evolution operator of its chain and each attack style of its label:
operators and styles are drawn independently of each other, so comparing one operator's rate
with another's is fair even after attacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sagert.results.metrics import wilson
from sagert.store.records import Record

GATE_KEY = "gate"
"""meta["gate"][<gate stage>] is that gate's outcome for a prompt (see OUTCOMES)."""
HARMFUL, NOT_HARMFUL, LOST_INTENT = "harmful", "not_harmful", "lost_intent"
UNJUDGED = "unjudged"
"""A judge error under `on_error: keep`: the prompt went on without a verdict."""
REVERTED = "reverted"
"""An evolution that failed the gate: its prompt before evolution went on (counted apart: the
failed evolution is already counted as benign, and the prompt passed the earlier gate)."""
OUTCOMES = (HARMFUL, NOT_HARMFUL, LOST_INTENT, UNJUDGED, REVERTED)


@dataclass
class GateCounts:
    harmful: int = 0
    not_harmful: int = 0
    lost_intent: int = 0
    errors: int = 0
    unjudged: int = 0
    """Judge errors whose prompts went on (on_error: keep); also counted in `errors`."""
    reverted: int = 0
    """Failed evolutions whose unevolved prompts went on; never in the rate."""

    def add(self, record: Record) -> None:
        if record.status == "failed":
            self.errors += 1
        elif outcome_of(record) == UNJUDGED:
            self.errors += 1
            self.unjudged += 1
        elif outcome_of(record) == REVERTED:
            self.reverted += 1
        elif record.status == "ok":
            self.harmful += 1
        elif outcome_of(record) == LOST_INTENT:
            self.lost_intent += 1
        else:
            self.not_harmful += 1

    @property
    def benign(self) -> int:
        return self.not_harmful + self.lost_intent

    def as_dict(self) -> dict[str, Any]:
        judged = self.harmful + self.benign
        interval = wilson(self.harmful, judged)
        return {
            "judged": judged,
            "harmful": self.harmful,
            "benign": self.benign,
            "not_harmful": self.not_harmful,
            "lost_intent": self.lost_intent,
            "errors": self.errors,
            "unjudged": self.unjudged,
            "reverted": self.reverted,
            "harmful_rate": self.harmful / judged if judged else None,
            "harmful_rate_low": interval[0] if interval else None,
            "harmful_rate_high": interval[1] if interval else None,
        }


def outcome_of(record: Record) -> str | None:
    """The outcome the record's last gate wrote (None: no gate judged it)."""
    gates = record.meta.get(GATE_KEY)
    if not isinstance(gates, dict) or record.stage not in gates:
        return None
    outcome = gates[record.stage]
    return str(outcome) if outcome in OUTCOMES else None


def gate_figures(records: Iterable[Record]) -> dict[str, Any]:
    """Overall, by evolution operator and by attack style, from one gate's records."""
    overall = GateCounts()
    by_evolution: dict[str, GateCounts] = {}
    by_attack: dict[str, GateCounts] = {}
    for record in records:
        overall.add(record)
        for operator in dict.fromkeys(map(str, record.meta.get("evolution") or [])):
            by_evolution.setdefault(operator, GateCounts()).add(record)
        attack = record.meta.get("attack")
        if attack is not None:
            for style in dict.fromkeys(str(attack).split("+")):
                by_attack.setdefault(style, GateCounts()).add(record)
    return {
        **overall.as_dict(),
        "by_evolution": {k: v.as_dict() for k, v in sorted(by_evolution.items())},
        "by_attack": {k: v.as_dict() for k, v in sorted(by_attack.items())},
    }
