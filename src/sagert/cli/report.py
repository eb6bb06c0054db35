"""`sagert report RUN`: write report.html for a run."""

from __future__ import annotations

from pathlib import Path

import typer

from sagert.cli.console import run_dir_of
from sagert.report.build import MAX_ROWS, build_report


def report(
    run: Path = typer.Argument(..., help="A run directory (runs/NAME) or its config file."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to write (default: RUN/report.html)."
    ),
    max_rows: int = typer.Option(MAX_ROWS, help="Records in the table (results.csv has all)."),
) -> None:
    """Write one self-contained report.html: rates, heatmaps, coverage, records."""
    run_dir = run_dir_of(run)
    path = build_report(run_dir, output, max_rows=max_rows)
    typer.echo(f"report: {path}")
