"""The prompt gates' tables and the run's yield, printed after a run's closing summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from sagert.cli.console import console
from sagert.engine.summary import StageSummary
from sagert.report.comparison import pct
from sagert.results.yields import yield_lines
from sagert.store.run import RunStore


def print_gates(summaries: list[StageSummary]) -> None:
    """Each gate's figures (its whole file), and by evolution operator and attack style."""
    gates = [(s.name, figures) for s in summaries if (figures := getattr(s, "gate", None))]
    if not gates:
        return
    out = console()
    out.print(gate_table(gates))
    by = by_factor_table(gates)
    if by.row_count:
        out.print(by)


def _rate(f: dict[str, Any]) -> str:
    return pct(f.get("harmful_rate"), f.get("harmful_rate_low"), f.get("harmful_rate_high"))


def gate_table(gates: list[tuple[str, dict[str, Any]]]) -> Table:
    """Per gate (its whole file): harmful on, benign aside (why), judge errors, the rate."""
    table = Table(
        "gate",
        "judged",
        "harmful",
        "not harmful",
        "lost intent",
        "judge errors",
        "unjudged (kept)",
        "harmful rate [95% CI]",
        title="prompt gates (benign prompts: stages/benign.jsonl)",
    )
    for name, f in gates:
        table.add_row(
            name,
            str(f["judged"]),
            str(f["harmful"]),
            str(f["not_harmful"]),
            str(f["lost_intent"]),
            str(f["errors"]),
            str(f.get("unjudged", 0)),
            _rate(f),
        )
    return table


def by_factor_table(gates: list[tuple[str, dict[str, Any]]]) -> Table:
    """Which evolution operators and attack styles dilute harm: each one's harmful rate."""
    table = Table("gate", "operator / style", "harmful/judged", "harmful rate [95% CI]")
    table.title = "harmful-prompt rate by evolution operator and attack style"
    for name, f in gates:
        for kind, key in (("evolution", "by_evolution"), ("attack", "by_attack")):
            for value, g in f.get(key, {}).items():
                table.add_row(name, f"{kind}: {value}", f"{g['harmful']}/{g['judged']}", _rate(g))
    return table


def print_yield(run_dir: Path) -> None:
    """The run's yield as the manifest has it (results/yields.py)."""
    manifest = RunStore.reader(run_dir).manifest()
    lines = yield_lines(manifest.yields or {})
    if lines:
        out = console()
        out.print(Text("yield:"))
        for line in lines:
            out.print(Text(f"  {line}"))
