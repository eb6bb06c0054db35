"""The closing tables of a run: stages, why records failed, what each model cost."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.tables import stages_table
from sagert.core.terminal import plain
from sagert.engine.summary import StageSummary, total_calls


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
        title="models (this run)",
    )
    for name, st in total_calls(summaries).items():
        calls.add_row(
            name,
            ",".join(st["roles"]),
            str(st.get("calls", 0)),
            str(st.get("cache_hits", 0)),
            str(st.get("retries", 0)),
            str(st.get("failures", 0)),
            str(st.get("prompt_tokens", 0)),
            str(st.get("completion_tokens", 0)),
        )
    out.print(calls)
    wall = sum(s.seconds for s in summaries)
    out.print(Text(f"run: {run_dir}  ({wall:.1f} s in stages)"))


def print_written(written: dict[str, Path]) -> None:
    out = console()
    for kind, path in written.items():
        out.print(Text(f"{kind}: {path}"))
