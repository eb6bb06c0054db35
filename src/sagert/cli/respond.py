"""`sagert respond CONFIG -i PROMPTS`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from sagert.cli.executor import ExecutorOption, RayAddressOption, with_executor
from sagert.cli.progress import stage_progress
from sagert.cli.summary import print_summary
from sagert.settings.run import load_config
from sagert.workflows import respond as workflow


def respond(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    input: Path = typer.Option(..., "--input", "-i", help="Prompts: .jsonl, .csv, .tsv or .txt."),
    column: str = typer.Option("prompt", help="The prompt column or field."),
    role: str | None = typer.Option(None, help="Answering role (default: stages.respond.role)."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Run the records that failed for good again (only those)."
    ),
    executor: Literal["local", "ray"] | None = ExecutorOption,
    ray_address: str | None = RayAddressOption,
) -> None:
    """A role answers every prompt of a file; re-running resumes."""
    cfg = with_executor(load_config(config), executor, ray_address)
    summary = workflow.run(
        cfg, input, column=column, role=role, progress=stage_progress, retry_failed=retry_failed
    )
    print_summary(cfg.run_dir, [summary])
