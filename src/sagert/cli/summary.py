"""The closing tables of a run: stages, why records failed, what each model cost, what the
prompt gates let through, what the contrast stages made."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.contrast import print_contrast
from sagert.cli.gates import print_gates
from sagert.cli.languages import print_translations
from sagert.cli.tables import print_models, stages_table
from sagert.core.terminal import plain
from sagert.engine.summary import StageSummary, stopped_by


def print_summary(run_dir: Path, summaries: list[StageSummary]) -> None:
    out = console()
    out.print(stages_table(summaries))
    reasons = [(s.name, r, n) for s in summaries for r, n in s.failure_reasons.items()]
    if reasons:
        why = Table("stage", "reason", "records", title="failed or dropped this run")
        for stage, reason, n in sorted(reasons, key=lambda x: -x[2]):
            why.add_row(stage, Text(plain(reason, 120)), str(n))
        out.print(why)
    print_models(out, summaries, tokens=True, title="models (this run)")
    print_gates(summaries)
    print_translations(summaries)
    print_contrast(summaries)
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
