"""`sagert redteam CONFIG`: grow a MAP-Elites archive of attacks; resumable."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from sagert.cli.console import console
from sagert.report.redteam import build_redteam_report
from sagert.settings.run import load_config
from sagert.workflows import redteam as workflow


def redteam(
    config: Path = typer.Argument(..., help="Run config (YAML) with a redteam: section."),
    iterations: int | None = typer.Option(
        None, min=1, help="Iterations at most (default: redteam.iterations)."
    ),
    report: bool = typer.Option(True, help="Write redteam.html when done."),
) -> None:
    """Attacker mutates elites toward (category x style) cells; the target answers; judged."""
    cfg = load_config(config)
    result = workflow.run(cfg, iterations=iterations)
    archive = result.archive
    successes = sum(e.success for e in archive.cells.values())
    out = console()
    out.print(
        Text(
            f"{archive.iteration} iterations, {result.target_calls} target calls: "
            f"{len(archive.cells)} of {len(result.cells)} cells filled, {successes} successful"
        )
    )
    for name, path in result.paths.items():
        out.print(Text(f"{name}: {path}"), soft_wrap=True)
    if report:
        page = build_redteam_report(cfg.run_dir, [c.key for c in result.cells])
        out.print(Text(f"report: {page}"), soft_wrap=True)
