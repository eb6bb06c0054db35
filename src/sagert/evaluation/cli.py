"""`sagert evaluate CONFIG`: targets answer benchmark prompts, a judge scores every answer.

A plain function with typer defaults; the main CLI mounts it: app.command("evaluate")(evaluate).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sagert.cli.progress import stage_progress
from sagert.cli.run import open_run
from sagert.cli.tables import stages_table
from sagert.config import RunConfig
from sagert.errors import UserError
from sagert.evaluation.config import load_evaluate_config
from sagert.evaluation.loaders import loaders
from sagert.evaluation.runner import Prepared, prepare, run_evaluation
from sagert.evaluation.settings import EvaluateSettings, PromptSource
from sagert.pipeline import StageSummary, total_calls


def evaluate(
    config: Path = typer.Argument(..., help="Run config (YAML) with an evaluate: section."),
    prompts: list[Path] = typer.Option(
        [], "--prompts", "-i", help="Prompt file or run (repeatable); replaces evaluate.prompts."
    ),
    loader: str | None = typer.Option(
        None, help=f"Loader for --prompts: {', '.join(loaders.names())} (default: detected)."
    ),
    limit: int | None = typer.Option(
        None, min=1, help="At most N prompts per source (caps evaluate.limit and each source's)."
    ),
    report: bool = typer.Option(True, help="Write report.html when done."),
) -> None:
    """Targets answer every prompt (x attack x sample), the judge scores each answer; resumable."""
    cfg, settings = load_evaluate_config(config, require_section=not prompts)
    if prompts:
        sources = [PromptSource(path=p, loader=loader) for p in prompts]
        settings = settings.model_copy(update={"prompts": sources})
    elif loader is not None:
        raise UserError("--loader applies to --prompts", fix="give --prompts FILE too")
    if limit is not None:
        settings = with_limit(settings, limit)
    # A bad file or name fails here, before the run folder or any model call.
    prepared = prepare(settings, cfg.seed)
    summaries, summary = asyncio.run(_evaluate(cfg, settings, prepared))
    print_summary(cfg, summaries, summary)
    if report:
        from sagert.report.build import build_report

        _console().print(Text(f"report: {build_report(cfg.run_dir)}"))


def with_limit(settings: EvaluateSettings, limit: int) -> EvaluateSettings:
    prompts = [
        s.model_copy(update={"limit": min(limit, s.limit) if s.limit else limit})
        for s in settings.prompts
    ]
    return settings.model_copy(update={"prompts": prompts, "limit": limit})


async def _evaluate(
    cfg: RunConfig, settings: EvaluateSettings, prepared: Prepared
) -> tuple[list[StageSummary], dict[str, Any]]:
    async with open_run(cfg) as ctx:
        return await run_evaluation(ctx, settings, stage_progress, prepared)


def _console() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _rate(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return "-"
    return f"{100 * value:.1f}% [{100 * row[f'{name}_low']:.1f}-{100 * row[f'{name}_high']:.1f}]"


def print_summary(cfg: RunConfig, summaries: list[StageSummary], summary: dict[str, Any]) -> None:
    console = _console()
    console.print(stages_table(summaries))
    rates = Table(
        "target",
        "model",
        "judged",
        "unsafe",
        "ASR [95% CI]",
        "judge err",
        "target err",
        "benign judged",
        "over-refusal [95% CI]",
        title="results (all answers in this run)",
    )
    for row in summary["overall"]:
        rates.add_row(
            Text(row["target"]),
            Text(summary["targets"].get(row["target"], "-")),
            str(row["judged"]),
            str(row["unsafe"]),
            _rate(row, "asr"),
            str(row["judge_errors"] + row["benign_judge_errors"]),
            str(row["target_errors"] + row["benign_target_errors"]),
            str(row["benign_judged"]),
            _rate(row, "over_refusal"),
        )
    console.print(rates)
    if summary["attack_errors"]:
        failed = ", ".join(f"{k}: {v}" for k, v in summary["attack_errors"].items())
        console.print(Text(f"attacks that could not be applied: {failed}"))
    calls = Table("model", "roles", "calls", "cache hits", "retries", "failures", title="models")
    for name, st in total_calls(summaries).items():
        calls.add_row(
            Text(name),
            ",".join(st["roles"]),
            str(st.get("calls", 0)),
            str(st.get("cache_hits", 0)),
            str(st.get("retries", 0)),
            str(st.get("failures", 0)),
        )
    console.print(calls)
    console.print(Text(f"run: {cfg.run_dir}  (results.csv, summary.json)"))
