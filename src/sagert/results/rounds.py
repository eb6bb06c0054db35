"""The per-round curve of `sagert align --rounds`: each round's model's rates, with intervals.

align.json lists the rounds (round 0 first) and the model before training (`before`); the
rates are the evaluation's overall rows of those targets, copied, never recomputed: the
curve's point 0 is the base model, point r + 1 the model after round r.
"""

from __future__ import annotations

from typing import Any

RATE_KEYS = (
    "judged",
    "unsafe",
    "judge_errors",
    "target_errors",
    "asr",
    "asr_low",
    "asr_high",
    "benign_judged",
    "refused",
    "over_refusal",
    "over_refusal_low",
    "over_refusal_high",
)


def round_points(overall: list[dict[str, Any]], align: dict[str, Any]) -> list[dict[str, Any]]:
    """[before, round 0, round 1, ...], each with its rates (None before it is evaluated);
    empty when align.json has no rounds."""
    rounds = align.get("rounds")
    before = align.get("before")
    if not isinstance(rounds, list) or not rounds or not isinstance(before, str):
        return []
    rows = {row.get("target"): row for row in overall}
    entries: list[dict[str, Any]] = [{"round": None, "target": before}]
    entries += [dict(r) for r in rounds if isinstance(r, dict) and isinstance(r.get("target"), str)]
    points = []
    for entry in entries:
        row = rows.get(entry["target"]) or {}
        points.append({**entry, **{key: row.get(key) for key in RATE_KEYS}})
    return points
