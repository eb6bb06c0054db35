"""Tables more than one command prints."""

from __future__ import annotations

from rich.table import Table

from sagert.engine.summary import StageSummary


def stages_table(summaries: list[StageSummary]) -> Table:
    """One row per stage: inputs, already done, written, failed, seconds."""
    table = Table("stage", "inputs", "already done", "written", "failed", "seconds", title="stages")
    for s in summaries:
        table.add_row(
            s.name,
            str(s.inputs),
            str(s.skipped_done),
            str(s.written),
            str(s.failed),
            f"{s.seconds:.1f}",
        )
    return table
