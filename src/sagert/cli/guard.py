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
    f1 = "n/a" if result.validation_f1 is None else f"{result.validation_f1:.3f}"
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
