"""`sagert train --method guard`: what it prints."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from sagert.cli.console import console
from sagert.settings.run import RunConfig
from sagert.workflows import guard as workflow


def train_guard(
    cfg: RunConfig,
    config: Path,
    *,
    base_model: str | None,
    max_steps: int | None,
    output: Path | None,
) -> None:
    overrides = {"base_model": base_model, "max_steps": max_steps}
    settings = workflow.guard_settings(cfg, overrides, file=config)
    result = workflow.run(cfg, settings, output=output)
    f1 = _f1(result.validation_f1)
    t = result.thresholds
    console().print(
        Text(
            f"guard: {result.steps} steps, loss {result.train_loss:.4f}, "
            f"{result.train_examples} training examples, {result.validation_examples} validation"
            f" (unsafe F1 {f1}; thresholds prompt {t['prompt']:.2f}, response "
            f"{t['response']:.2f}, category {t['category']:.2f}); labels: "
            f"{', '.join(result.labels)}; model: {result.final_model} "
            f"(metrics.json beside it)"
        )
    )
    restarts = workflow.restarts_of(result) if settings.restarts > 1 else None
    if restarts is not None:
        tried = ", ".join(f"seed {r['seed']} {_f1(r['validation_f1'])}" for r in restarts["seeds"])
        console().print(
            Text(f"restarts (validation unsafe F1): {tried}; kept {restarts['chosen']}")
        )


def _f1(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
