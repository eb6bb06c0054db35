"""The closing tables of a run: stages, why records failed, what each model cost, what the
prompt gates let through."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.gates import print_gates
from sagert.cli.tables import endpoints_table, rate_cells, roles_table, stages_table
from sagert.core.terminal import plain
from sagert.engine.summary import StageSummary, stopped_by, total_calls, total_roles


def print_summary(run_dir: Path, summaries: list[StageSummary]) -> None:
    out = console()
    out.print(stages_table(summaries))
    reasons = [(s.name, r, n) for s in summaries for r, n in s.failure_reasons.items()]
    if reasons:
        why = Table("stage", "reason", "records", title="failed or dropped this run")
        for stage, reason, n in sorted(reasons, key=lambda x: -x[2]):
            why.add_row(stage, Text(plain(reason, 120)), str(n))
        out.print(why)
    calls = Table(
        "model",
        "roles",
        "calls",
        "cache hits",
        "retries",
        "failures",
        "prompt tok",
        "completion tok",
        "req/s",
        "tok/s",
        title="models (this run)",
    )
    totals = total_calls(summaries)
    for name, st in totals.items():
        calls.add_row(
            name,
            ",".join(st["roles"]),
            str(st.get("calls", 0)),
            str(st.get("cache_hits", 0)),
            str(st.get("retries", 0)),
            str(st.get("failures", 0)),
            str(st.get("prompt_tokens", 0)),
            str(st.get("completion_tokens", 0)),
            *rate_cells(st),
        )
    out.print(calls)
    for table in (endpoints_table(totals), roles_table(total_roles(summaries))):
        if table is not None:
            out.print(table)
    print_gates(summaries)
    wall = sum(s.seconds for s in summaries)
    out.print(Text(f"run: {run_dir}  ({wall:.1f} s in stages)"))
    print_stop(summaries)


def print_stop(summaries: list[StageSummary]) -> None:
    """The one line saying a budget stopped the run (exit code 0: it resumes)."""
    why = stopped_by(summaries)
    if why is not None:
        console().print(
            Text(f"{why}: stopped at a record boundary; raise it and run again to resume")
        )


def print_written(written: dict[str, Path]) -> None:
    out = console()
    for kind, path in written.items():
        out.print(Text(f"{kind}: {path}"))
