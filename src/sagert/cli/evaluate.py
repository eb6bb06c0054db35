"""`sagert evaluate CONFIG`: targets answer benchmark prompts, a judge scores every answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import typer
from rich.table import Table
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.executor import ExecutorOption, RayAddressOption, with_executor
from sagert.cli.languages import print_languages
from sagert.cli.progress import stage_progress
from sagert.cli.summary import print_stop
from sagert.cli.tables import print_models, stages_table
from sagert.core.errors import UserError
from sagert.loaders import loaders
from sagert.report.build import build_report
from sagert.settings.run import load_config
from sagert.workflows import evaluate as workflow
from sagert.workflows.evaluate import EvaluationResult


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
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Run the records that failed for good again (only those)."
    ),
    executor: Literal["local", "ray"] | None = ExecutorOption,
    ray_address: str | None = RayAddressOption,
) -> None:
    """Targets answer every prompt (x attack x sample), the judge scores each answer; resumable."""
    cfg = with_executor(load_config(config), executor, ray_address)
    try:
        settings = workflow.settings_for(cfg, prompts, loader=loader, limit=limit)
    except UserError as exc:
        exc.file = exc.file or str(config)
        raise
    result = workflow.run(cfg, settings, progress=stage_progress, retry_failed=retry_failed)
    print_evaluation(cfg.run_dir, result)
    if report:
        console().print(Text(f"report: {build_report(cfg.run_dir)}"))


def _rate(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return "-"
    return f"{100 * value:.1f}% [{100 * row[f'{name}_low']:.1f}-{100 * row[f'{name}_high']:.1f}]"


def print_evaluation(run_dir: Path, result: EvaluationResult) -> None:
    summaries, summary = result.summaries, result.summary
    out = console()
    out.print(stages_table(summaries))
    calibrated = bool(summary.get("judge_calibration"))
    rates = Table(
        "target",
        "model",
        "judged",
        "unsafe",
        "ASR [95% CI]",
        *(["ASR judge-corrected [95% CI]"] if calibrated else []),
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
            *([_rate(row, "asr_corrected")] if calibrated else []),
            str(row["judge_errors"] + row["benign_judge_errors"]),
            str(row["target_errors"] + row["benign_target_errors"]),
            str(row["benign_judged"]),
            _rate(row, "over_refusal"),
        )
    out.print(rates)
    print_languages(summary)
    if calibrated:
        cal = summary["judge_calibration"]
        out.print(
            Text(
                f"judge-corrected ASR (Rogan-Gladen): sensitivity {cal['sensitivity']:.3f},"
                f" specificity {cal['specificity']:.3f} from {cal['file']}"
            )
        )
    if summary["attack_errors"]:
        failed = ", ".join(f"{k}: {v}" for k, v in summary["attack_errors"].items())
        out.print(Text(f"attacks that could not be applied: {failed}"))
    print_models(out, summaries, tokens=False)
    out.print(Text(f"run: {run_dir}  (results.csv, summary.json)"))
    print_stop(summaries)
