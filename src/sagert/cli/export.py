"""`sagert export RUN`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from sagert.cli.console import console, run_dir_of
from sagert.cli.summary import print_written
from sagert.workflows.export import EXPORT_FORMATS, export_run


def export(
    run: Path = typer.Argument(..., help="A run directory (runs/NAME) or its config file."),
    format: list[str] = typer.Option(
        ["trl"], "--format", "-f", help=f"Any of: {', '.join(EXPORT_FORMATS)} (repeatable)."
    ),
    conversational: bool = typer.Option(False, help="TRL conversational format."),
    push_to_hub: str | None = typer.Option(
        None, help="Also upload to this private Hub dataset repo (user/name); needs HF_TOKEN."
    ),
) -> None:
    """Write the validated pairs for TRL, pandas and HF datasets, with a dataset card."""
    written = export_run(
        run_dir_of(run), format, conversational=conversational, push_to_hub=push_to_hub
    )
    print_written(written)
    if push_to_hub:
        console().print(Text(f"hub: {push_to_hub} (private dataset: data, card, config, manifest)"))
