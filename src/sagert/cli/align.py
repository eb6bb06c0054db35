"""`sagert align CONFIG`: generate, train, evaluate before and after."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.evaluate import print_evaluation
from sagert.cli.gates import print_yield
from sagert.cli.progress import stage_progress
from sagert.cli.summary import print_summary
from sagert.report.build import build_report
from sagert.settings.evaluate import PromptSource
from sagert.settings.run import load_config
from sagert.workflows import align as workflow
from sagert.workflows.train import train_settings


def align(
    config: Path = typer.Argument(..., help="Run config: generation, train: and align: sections."),
    method: str | None = typer.Option(None, help="dpo or simpo (default: train.method)."),
    base_model: str | None = typer.Option(None, help="embedded, a folder, a .gguf or a Hub id."),
    max_steps: int | None = typer.Option(None, help="Stop training after this many steps."),
    prompts: list[Path] = typer.Option(
        [], "--prompts", "-i", help="More prompts to evaluate on (repeatable), e.g. XSTest."
    ),
    loader: str | None = typer.Option(None, help="Loader for --prompts (default: detected)."),
    limit: int | None = typer.Option(None, min=1, help="At most N prompts per source."),
    generate: bool = typer.Option(True, help="Run (or resume) generation first."),
    report: bool = typer.Option(True, help="Write report.html when done."),
) -> None:
    """Generate, train, then evaluate the base and the trained model (held-out prompts +
    any --prompts); one report compares them. Every step resumes."""
    cfg = load_config(config)
    overrides = {"method": method, "base_model": base_model, "max_steps": max_steps}
    settings = train_settings(cfg, overrides, file=config)
    result = workflow.run(
        cfg,
        train=settings,
        prompts=[PromptSource(path=p, loader=loader) for p in prompts],
        limit=limit,
        generate=generate,
        progress=stage_progress,
    )
    if result.generation:
        print_summary(cfg.run_dir, result.generation)
        print_yield(cfg.run_dir)
    if result.evaluation is None:
        return  # a budget stopped generation (print_summary said which)
    console().print(Text(f"held-out prompts (seed split): {result.heldout_prompts}"))
    print_evaluation(cfg.run_dir, result.evaluation)
    if report:
        console().print(Text(f"report: {build_report(cfg.run_dir)}"))
