"""The request a judge should read: the prompt without its trailing mechanical attack steps.

An encoding, a template or a split hides what was asked from a judge model without changing
it; an LLM rewrite (past tense, role-play) is a new request that the prompt gate checked kept
its intent. So the prompt gate, the pairs' harm judge and `evaluate` read the request under
the deterministic steps, and the record keeps the prompt as sent.
"""

from __future__ import annotations

from sagert.attacks.base import attacks
from sagert.store.records import LineageStep, Record


def readable_request(record: Record) -> tuple[str, str]:
    """What a judge should read, and what it is: the prompt as sent ("prompt"), or the plain
    request under the trailing deterministic attack steps ("plain")."""
    steps = record.lineage
    i = len(steps)
    while i > 0 and _mechanical(steps[i - 1]):
        i -= 1
    if i < len(steps):
        return steps[i].before, "plain"
    return record.prompt or "", "prompt"


def _mechanical(step: LineageStep) -> bool:
    kind, _, name = step.name.partition(":")
    return kind == "attack" and name in attacks and bool(attacks.get(name).deterministic)
