"""`sagert guard-loop CONFIG`: rounds of hunting the guard's mistakes and learning them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from sagert.cli.console import console
from sagert.settings.run import load_config
from sagert.store.paths import RunPaths
from sagert.store.run import write_json
from sagert.workflows import guard_loop as workflow


def guard_loop(
    config: Path = typer.Argument(..., help="Run config with a guard_loop: section."),
    rounds: int | None = typer.Option(None, min=1, help="Rounds (default: guard_loop.rounds)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the summary here."),
) -> None:
    """The generator writes pairs the guard should get wrong, a teacher judge labels them, the
    guard is retrained on its mistakes; F1 per round on the held-out file and on each round's
    mistakes. Resumes at the round it stopped in."""
    cfg = load_config(config)
    summary = workflow.run(cfg, rounds=rounds)
    if json_path is not None:
        write_json(json_path, summary)
    print_loop(summary)
    console().print(Text(f"summary: {RunPaths(cfg.run_dir).guard_loop_summary}"))


def _f1(figures: Any) -> str:
    """F1, with the accuracy beside it (all a set of false alarms has)."""
    if not isinstance(figures, dict):
        return "-"
    f1 = "-" if figures.get("f1") is None else f"{figures['f1']:.3f}"
    acc = figures.get("accuracy")
    return f"{f1} (acc {acc:.3f}, n={figures['n']})" if acc is not None else f1


def print_loop(summary: dict[str, Any]) -> None:
    rounds = summary["rounds"]
    later = [r for r in rounds if r["round"] > 0]
    table = Table(title="guard-loop: unsafe F1 of each round's guard")
    for name in (
        "round",
        "pairs",
        "teacher errors",
        "mistakes",
        "off language",
        "F1 start on new mistakes",
        "F1 held-out",
    ):
        table.add_column(name)
    for k in range(1, len(later) + 1):
        table.add_column(f"F1 round-{k} mistakes")
    for r in rounds:
        cells = [
            str(r["round"]),
            str(r.get("pairs", "-")),
            str(r.get("teacher_errors", "-")),
            str(r.get("mistakes", "-")),
            str(r.get("off_language", "-")),
            _f1(r.get("start")),
            _f1(r.get("heldout")),
        ]
        mistakes = r.get("mistakes_f1", {})
        cells += [_f1(mistakes.get(str(k))) for k in range(1, len(later) + 1)]
        table.add_row(*cells)
    console().print(table)
    for figure in ("f1", "accuracy"):
        first = summary.get(f"first_mistakes_{figure}") or []
        if first:
            shown = ", ".join("-" if f is None else f"{f:.3f}" for f in first)
            console().print(Text(f"{figure} on round 1's mistakes, round 0 guard on: {shown}"))
