"""redteam.html: the MAP-Elites archive as a heatmap (score per cell) and its growth.

A page of its own beside report.html, from `redteam_archive.json` alone (read-only). jinja2
autoescapes every generated text (prompts, answers, category names); the page has no script.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from sagert.core.errors import UserError
from sagert.engine.iterative.archive import SEP
from sagert.report.charts import LineChart, heatmap, line_chart
from sagert.store.run import RunStore, write_atomic

MAX_TEXT = 600


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def redteam_view(archive: dict[str, Any], cells: list[str], name: str) -> dict[str, Any]:
    """What the template shows; `cells` are every cell's key (filled or not), in order."""
    rows: list[str] = []
    cols: list[str] = []
    for key in cells:
        category, rest = key.split(SEP, 1) if SEP in key else (key, "-")
        rows += [category] if category not in rows else []
        cols += [rest] if rest not in cols else []
    values: dict[tuple[str, str], tuple[float | None, str]] = {}
    elites = []
    for key, elite in archive.get("cells", {}).items():
        category, rest = key.split(SEP, 1) if SEP in key else (key, "-")
        detail = "success" if elite["success"] else "no success"
        values[(category, rest)] = (
            float(elite["score"]),
            f"{detail}, iteration {elite['iteration']}",
        )
        elites.append(
            {
                "cell": key,
                "score": float(elite["score"]),
                "success": bool(elite["success"]),
                "prompt": _clip(str(elite["prompt"])),
                "response": _clip(str(elite["response"])),
            }
        )
    history = archive.get("history", [])
    growth: list[LineChart] = []
    if history:
        for field, label in (("filled", "filled cells"), ("successes", "successful cells")):
            points = [(float(h["iteration"]), float(h[field])) for h in history]
            growth.append(
                line_chart(f"Archive growth: {label}", points, x_label="iteration", y_label=label)
            )
    elites.sort(key=lambda e: (-e["score"], e["cell"]))
    last = history[-1] if history else {}
    return {
        "name": name,
        "map": heatmap("Elite score per cell (category x style)", rows, cols, values),
        "growth": growth,
        "elites": elites,
        "filled": len(elites),
        "total": len(cells),
        "successes": sum(e["success"] for e in elites),
        "iterations": archive.get("iteration", 0),
        "target_calls": last.get("target_calls", 0),
    }


def build_redteam_report(run_dir: Path, cells: list[str] | None = None) -> Path:
    """Write runs/<name>/redteam.html; `cells` default to the archive's filled ones."""
    store = RunStore.reader(run_dir)
    path = store.paths.redteam_archive
    if not path.is_file():
        raise UserError("this run has no red-team archive", file=path, fix="run: sagert redteam")
    archive = json.loads(path.read_text(encoding="utf-8"))
    keys = cells if cells is not None else sorted(archive.get("cells", {}))
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sagert", "templates/report"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("redteam.html").render(**redteam_view(archive, keys, run_dir.name))
    out = store.paths.redteam_report
    write_atomic(out, html)
    return out
