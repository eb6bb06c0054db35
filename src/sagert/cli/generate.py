"""`sagert generate CONFIG [--until STAGE]`."""

from __future__ import annotations

from pathlib import Path

import typer

from sagert.cli.progress import stage_progress
from sagert.cli.summary import print_summary, print_written, print_yield
from sagert.settings.run import load_config
from sagert.workflows import generate as workflow
from sagert.workflows.export import PAIRS_STAGE, export_run


def generate(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    until: str | None = typer.Option(
        None,
        help="Stop after this stage of the config's pipeline (default stages: "
        f"{', '.join(workflow.GENERATION_STAGES)}).",
    ),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Run the records that failed for good again (only those)."
    ),
) -> None:
    """The SAGE pipeline from the taxonomy on; re-running resumes."""
    cfg = load_config(config)
    summaries = workflow.run(cfg, until=until, progress=stage_progress, retry_failed=retry_failed)
    print_summary(cfg.run_dir, summaries)
    print_yield(cfg.run_dir)
    if until is None and cfg.export.formats and PAIRS_STAGE in cfg.pipeline:
        written = export_run(
            cfg.run_dir, list(cfg.export.formats), conversational=cfg.export.conversational
        )
        print_written(written)
