"""`sagert generate CONFIG [--until STAGE]`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from sagert.cli.executor import ExecutorOption, RayAddressOption, with_executor
from sagert.cli.gates import print_yield
from sagert.cli.progress import stage_progress
from sagert.cli.summary import print_summary, print_written
from sagert.engine.summary import stopped_by
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
    executor: Literal["local", "ray"] | None = ExecutorOption,
    ray_address: str | None = RayAddressOption,
) -> None:
    """The SAGE pipeline from the taxonomy on; re-running resumes."""
    cfg = with_executor(load_config(config), executor, ray_address)
    summaries = workflow.run(cfg, until=until, progress=stage_progress, retry_failed=retry_failed)
    print_summary(cfg.run_dir, summaries)
    print_yield(cfg.run_dir)
    finished = stopped_by(summaries) is None  # a budget stopped it: no export of half a run
    if finished and until is None and cfg.export.formats and PAIRS_STAGE in cfg.pipeline:
        written = export_run(
            cfg.run_dir, list(cfg.export.formats), conversational=cfg.export.conversational
        )
        print_written(written)
