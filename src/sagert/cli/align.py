"""`sagert align CONFIG`: generate, train, evaluate before and after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.evaluate import print_evaluation
from sagert.cli.gates import print_yield
from sagert.cli.progress import stage_progress
from sagert.cli.summary import print_summary
from sagert.core.validation import validate
from sagert.report.build import build_report
from sagert.report.comparison import pct
from sagert.settings.evaluate import PromptSource
from sagert.settings.run import RunConfig, load_config
from sagert.settings.train import AlignSettings
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
    rounds: int | None = typer.Option(
        None,
        help="Training rounds (default: align.rounds, 1): each after the first trains further "
        "on the current model's own unsafe answers.",
    ),
    generate: bool = typer.Option(True, help="Run (or resume) generation first."),
    report: bool = typer.Option(True, help="Write report.html when done."),
) -> None:
    """Generate, train, then evaluate the base and the trained model (held-out prompts +
    any --prompts); one report compares them. Every step resumes."""
    cfg = with_rounds(load_config(config), rounds, config)
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
    if result.rounds is not None:
        print_rounds(result.evaluation.summary, result.rounds.stopped)
    if report:
        console().print(Text(f"report: {build_report(cfg.run_dir)}"))


def with_rounds(cfg: RunConfig, rounds: int | None, file: Path) -> RunConfig:
    if rounds is None:
        return cfg
    data = {**cfg.align.model_dump(), "rounds": rounds}
    align_settings = validate(AlignSettings, data, file=str(file), prefix="align")
    return cfg.model_copy(update={"align": align_settings})


def print_rounds(summary: dict[str, Any], stopped: str | None) -> None:
    """One line per point of the curve: base, then the model after each round."""
    out = console()
    for point in summary.get("rounds", []):
        index = point.get("round")
        label = "base" if index is None else f"round {index}"
        line = (
            f"{label} ({point['target']}): ASR {_rate(point, 'asr')}, "
            f"over-refusal {_rate(point, 'over_refusal')}"
        )
        if index:
            line += (
                f"; {point.get('unsafe_answers')} unsafe of {point.get('answered')} answers, "
                f"{point.get('pairs')} pairs (+{point.get('redteam_pairs')} red-team, "
                f"+{point.get('contrast_pairs', 0)} contrast), "
                + (f"trained {point.get('steps')} steps" if point.get("trained") else "not trained")
            )
        out.print(Text(line))
    if stopped:
        out.print(Text(f"rounds stopped: {stopped}"))


def _rate(point: dict[str, Any], name: str) -> str:
    return pct(point.get(name), point.get(f"{name}_low"), point.get(f"{name}_high"))
