"""Per-language tables: what the translate stage made of each language, and attack success and
over-refusal per language in an evaluation."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from sagert.cli.console import console
from sagert.engine.summary import StageSummary
from sagert.report.comparison import pct

MISSING = "-"


def print_translations(summaries: list[StageSummary]) -> None:
    """The translate stage's figures over its whole file, one row per language."""
    for s in summaries:
        figures = getattr(s, "translation", None)
        if figures:
            console().print(translation_table(figures))


def translation_table(figures: dict[str, Any]) -> Table:
    table = Table(
        "language",
        "translated",
        "failed",
        "wrong language",
        "malformed / cut off",
        "too short / long",
        "call failed",
        "already in it",
        "encoded",
        "translated [95% CI]",
        title="translations (a language the translator cannot write shows as wrong language)",
    )
    rows = [*figures.get("languages", {}).items(), ("all", figures.get("total", {}))]
    for language, f in rows:
        if not f:
            continue
        table.add_row(
            language,
            str(f["translated"]),
            str(f["failed"]),
            str(f["wrong_language"]),
            str(f["malformed"] + f["truncated"]),
            str(f["too_short"] + f.get("too_long", 0)),
            str(f["call_failed"]),
            str(f["already"]),
            str(f.get("encoded", 0)),
            pct(f["translated_rate"], f["translated_rate_low"], f["translated_rate_high"]),
        )
    return table


def language_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The evaluation's per-language rows, when its prompts are in more than one language."""
    rows = list(summary.get("by", {}).get("language", []))
    if len({r["language"] for r in rows} - {MISSING}) < 2:
        return []
    return rows


def print_languages(summary: dict[str, Any]) -> None:
    rows = language_rows(summary)
    if not rows:
        return
    table = Table(
        "target",
        "language",
        "judged",
        "unsafe",
        "ASR [95% CI]",
        "judge err",
        "benign judged",
        "over-refusal [95% CI]",
        title="by language (of the prompt: translate stage, loader, or detected)",
    )
    for r in rows:
        table.add_row(
            Text(r["target"]),
            Text(r["language"]),
            str(r["judged"]),
            str(r["unsafe"]),
            pct(r["asr"], r["asr_low"], r["asr_high"]),
            str(r["judge_errors"] + r["benign_judge_errors"]),
            str(r["benign_judged"]),
            pct(r["over_refusal"], r["over_refusal_low"], r["over_refusal_high"]),
        )
    console().print(table)
