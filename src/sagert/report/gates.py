"""The report's yield and prompt-gate figures for a generation (or baseline) run.

Recomputed from the run folder (results/yields.py), like the evaluation's rates, so the page
agrees with the files; each gate's rate by evolution operator and attack style is a bar chart
with its Wilson interval, which is where a diluting operator shows.
"""

from __future__ import annotations

from typing import Any

from sagert.report.charts import BarChart, BarItem, bar_chart
from sagert.report.comparison import pct
from sagert.results.yields import run_yield
from sagert.store.run import RunStore

FACTORS = (("by_evolution", "evolution operator"), ("by_attack", "attack style"))


def yield_view(store: RunStore) -> dict[str, Any] | None:
    """Pairs and prompts per 1,000 generated tokens, and one row per gate."""
    data = run_yield(store)
    if not data["completion_tokens"] and not data["prompts"]:
        return None
    manifest = store.manifest()
    gates: list[dict[str, Any]] = []
    charts: list[BarChart] = []
    for name, entry in manifest.stages.items():
        figures = (entry.model_extra or {}).get("gate")
        if not isinstance(figures, dict):
            continue
        gates.append(
            {
                "name": name,
                **{k: figures.get(k, 0) for k in ("judged", "harmful", "not_harmful")},
                **{k: figures.get(k, 0) for k in ("lost_intent", "errors")},
                "rate": _rate_text(figures),
            }
        )
        for key, what in FACTORS:
            rows = {k: v for k, v in (figures.get(key) or {}).items() if v.get("judged")}
            if rows:
                charts.append(_chart(f"{name}: harmful-prompt rate by {what}", rows))
    return {**data, "gate_rows": gates, "charts": charts}


def _rate_text(f: dict[str, Any]) -> str:
    return pct(f.get("harmful_rate"), f.get("harmful_rate_low"), f.get("harmful_rate_high"))


def _chart(title: str, rows: dict[str, dict[str, Any]]) -> BarChart:
    items = [
        BarItem(
            label=name,
            value=f["harmful_rate"],
            low=f["harmful_rate_low"],
            high=f["harmful_rate_high"],
            note=f"{f['harmful']}/{f['judged']}",
        )
        for name, f in rows.items()
    ]
    return bar_chart(title, items)
