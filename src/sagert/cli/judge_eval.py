"""`sagert judge-eval JUDGE -i LABELLED`: a judge measured against human labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.progress import stage_progress
from sagert.core.errors import UserError
from sagert.results.agreement import DEFAULT_POSITIVE, METRICS, RESAMPLES, Agreement
from sagert.settings.run import load_config
from sagert.store.labelled import LabelledColumns
from sagert.workflows import judge_eval as workflow
from sagert.workflows.judge_eval import JudgeBlock, JudgeEvalReport

BLOCKS: tuple[JudgeBlock, ...] = ("judge", "evaluate")
LABELS = {
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall (sensitivity)",
    "specificity": "specificity",
    "f1": "F1",
    "kappa": "Cohen's kappa",
}


def judge_eval(
    judge: str | None = typer.Argument(
        None, help="A registered judge (sagert list judges); or -c CONFIG --judge BLOCK."
    ),
    input: Path = typer.Option(
        ..., "--input", "-i", help="Labelled rows: .csv (# comments), .tsv, .jsonl, .parquet."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Run config: the judge role's model and the run folder."
    ),
    block: str | None = typer.Option(
        None, "--judge", help="The config's judge: 'judge' (stages.judge) or 'evaluate'."
    ),
    prompt_column: str = typer.Option("prompt", help="The prompt column."),
    response_column: str = typer.Option(
        "response", help="The response column ('' judges the prompt alone)."
    ),
    label_column: str = typer.Option("label", help="The human label column."),
    group_column: str | None = typer.Option(
        None, help="A column to break the figures down by (e.g. language)."
    ),
    positive: str = typer.Option(
        ",".join(DEFAULT_POSITIVE),
        help="Judge verdicts meaning the label's positive class (comma-separated).",
    ),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Run folder (default: the config's, or runs/judge-eval-...)."
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Also write the figures here (evaluate.judge_calibration reads it)."
    ),
) -> None:
    """Measure a judge against human labels: accuracy, precision, recall, F1, kappa, with 95%
    intervals; judge errors counted apart. Resumable: a re-run makes no model call."""
    if block is not None and block not in BLOCKS:
        raise UserError(f"--judge {block!r}", fix=f"use one of: {', '.join(BLOCKS)}")
    cfg = load_config(config) if config is not None else None
    columns = LabelledColumns(
        prompt=prompt_column,
        response=response_column or None,
        label=label_column,
        group=group_column or None,
    )
    report = workflow.run(
        input,
        judge,
        config=cfg,
        block=block,  # narrowed to a JudgeBlock by the check above
        columns=columns,
        positive=positive,
        run_dir=run_dir,
        json_path=json_path,
        progress=stage_progress,
    )
    print_report(report, json_path)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _estimate(e: dict[str, Any]) -> str:
    if e["value"] is None:
        return "-"
    if e["low"] is None:
        return _num(e["value"])
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def _confusion(a: Agreement) -> Table:
    c = a.confusion
    table = Table("", "judge positive", "judge negative", "judge error", title="confusion matrix")
    table.add_row("label positive", f"{c.tp} (TP)", f"{c.fn} (FN)", "")
    table.add_row("label negative", f"{c.fp} (FP)", f"{c.tn} (TN)", "")
    table.add_row("any label", "", "", str(a.errors))
    return table


def _groups(report: JudgeEvalReport) -> Table:
    table = Table(
        report.group_column or "",
        "n",
        "errors",
        *(LABELS[m] for m in METRICS),
        title=f"by {report.group_column}",
    )
    for group, a in sorted(report.groups.items()):
        metrics = a.as_dict()["metrics"]
        table.add_row(
            Text(group), str(a.n), str(a.errors), *(_estimate(metrics[m]) for m in METRICS)
        )
    return table


def print_report(report: JudgeEvalReport, json_path: Path | None = None) -> None:
    out = console()
    model = f" (model {report.judge_model})" if report.judge_model else ""
    a = report.overall
    out.print(
        Text(
            f"judge-eval: {report.judge}{model} on {report.input}: {a.n + a.errors} rows,"
            f" {a.n} judged, {a.errors} judge errors (counted apart);"
            f" positive = {', '.join(report.positive)}"
        )
    )
    out.print(_confusion(a))
    metrics = a.as_dict()["metrics"]
    table = Table("metric", "value [95% CI]", "interval", title="agreement with the labels")
    for name in METRICS:
        e = metrics[name]
        method = "Wilson" if e["method"] == "wilson" else f"bootstrap ({RESAMPLES}, seeded)"
        table.add_row(LABELS[name], _estimate(e), method)
    out.print(table)
    if report.group_column:
        out.print(_groups(report))
    verdicts = ", ".join(f"{v}: {n}" for v, n in report.verdicts.items())
    out.print(Text(f"verdicts: {verdicts}"))
    for warning in report.warnings:
        out.print(Text(f"warning: {warning}"))
    out.print(
        Text(
            f"judge model calls: {report.model_calls} (cache hits {report.cache_hits});"
            f" rows already judged: {report.stage.skipped_done}"
        )
    )
    written = f", {json_path}" if json_path else ""
    out.print(Text(f"run: {report.run_dir}  (judge_eval.json{written})"))
    accuracy = metrics["accuracy"]["value"]
    shown = "nan" if accuracy is None else f"{accuracy:.3f}"
    out.print(Text(f"accuracy={shown} n={a.n} errors={a.errors}"))
