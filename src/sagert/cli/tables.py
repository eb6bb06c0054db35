"""Tables more than one command prints."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

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


def endpoints_table(totals: dict[str, dict[str, Any]]) -> Table | None:
    """One row per endpoint of each fleet (None when no role uses one): what each served."""
    table = Table(
        "model",
        "endpoint",
        "requests",
        "ok",
        "errors",
        "failed over",
        "429s",
        "taken out",
        "prompt tok",
        "completion tok",
        title="endpoints (this run)",
    )
    for name, stats in totals.items():
        for url, ep in (stats.get("endpoints") or {}).items():
            table.add_row(
                Text(name),
                Text(url),
                *(
                    str(ep.get(key, 0))
                    for key in (
                        "requests",
                        "ok",
                        "errors",
                        "failovers",
                        "rate_limited",
                        "ejections",
                        "prompt_tokens",
                        "completion_tokens",
                    )
                ),
            )
    return table if table.row_count else None
