"""`sagert baseline CONFIG`."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.gates import print_yield
from sagert.cli.progress import stage_progress
from sagert.cli.summary import print_summary
from sagert.settings.run import load_config
from sagert.workflows import baseline as workflow


def baseline(
    config: Path = typer.Argument(..., help="The SAGE run's config."),
    calls: int | None = typer.Option(None, help="Call budget (default: what the run spent)."),
    pairs: bool = typer.Option(
        False, "--pairs", help="Also answer, judge and pair its prompts (pairs per 1,000 tokens)."
    ),
) -> None:
    """The naive baseline on the same generator and call budget, as run <name>-baseline."""
    cfg = load_config(config)
    result = workflow.run(cfg, calls=calls, pairs=pairs, progress=stage_progress)
    print_summary(result.run_dir, result.summaries)
    print_yield(result.run_dir)
    out = console()
    out.print(Text(f"{result.calls} generator calls each"))
    # The command alone on its line, quoted and never wrapped, so it can be pasted as is.
    command = shlex.join(["sagert", "stats", str(cfg.run_dir), "--compare", str(result.run_dir)])
    out.print(Text(f"compare: {command}"), soft_wrap=True)
