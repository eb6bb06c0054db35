"""The Rounds section of `sagert align --rounds`: attack success and over-refusal per round.

`round_points` (results/rounds.py, what summary.json's `rounds` holds) gives each point's
rates and Wilson intervals from the evaluation; nothing is recomputed here. Point 0 is the
base model, point r + 1 the model after round r. Labels and figures are text like any other:
the template escapes them.
"""

from __future__ import annotations

from typing import Any

from sagert.report.charts import LineChart, line_chart
from sagert.report.comparison import pct
from sagert.report.training import finite

X_LABEL = "rounds trained (0 = base model)"


def _rate(point: dict[str, Any], name: str) -> tuple[float | None, tuple[float, float] | None]:
    value, low, high = (finite(point.get(k)) for k in (name, f"{name}_low", f"{name}_high"))
    return value, (low, high) if low is not None and high is not None else None


def _chart(title: str, label: str, points: list[dict[str, Any]], name: str) -> LineChart | None:
    xy: list[tuple[float, float]] = []
    whiskers: list[tuple[float, float] | None] = []
    for i, point in enumerate(points):
        value, interval = _rate(point, name)
        if value is None:
            continue
        xy.append((float(i), 100 * value))
        whiskers.append((100 * interval[0], 100 * interval[1]) if interval else None)
    if not xy:
        return None
    return line_chart(title, xy, x_label=X_LABEL, y_label=label, intervals=whiskers)


def _count(value: Any) -> str:
    number = finite(value)
    return "-" if number is None else f"{number:.0f}"


def rounds_view(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Charts and one row per point; None without a per-round curve."""
    if len(points) < 2:
        return None
    rows = []
    for i, p in enumerate(points):
        asr, asr_ci = _rate(p, "asr")
        over, over_ci = _rate(p, "over_refusal")
        index = p.get("round")
        rows.append(
            {
                "point": i,
                "label": "base" if index is None else f"round {index}",
                "target": str(p.get("target", "-")),
                "asr": pct(asr, *(asr_ci or (None, None))),
                "asr_counts": f"{_count(p.get('unsafe'))}/{_count(p.get('judged'))}",
                "over_refusal": pct(over, *(over_ci or (None, None))),
                "over_counts": f"{_count(p.get('refused'))}/{_count(p.get('benign_judged'))}",
                "answered": _count(p.get("answered")) if index else "-",
                "unsafe_answers": _count(p.get("unsafe_answers")) if index else "-",
                "pairs": _count(p.get("pairs")) if index is not None else "-",
                "redteam_pairs": _count(p.get("redteam_pairs")) if index else "-",
                "contrast_pairs": _count(p.get("contrast_pairs")) if index else "-",
                "trained": "-" if index is None else ("yes" if p.get("trained") else "no"),
                "steps": _count(p.get("steps")) if index is not None else "-",
            }
        )
    charts = [
        _chart("Attack success by round (95% CI)", "attack success (%)", points, "asr"),
        _chart("Over-refusal by round (95% CI)", "over-refusal (%)", points, "over_refusal"),
    ]
    return {"rows": rows, "charts": [c for c in charts if c is not None]}
