"""`sagert train CONFIG`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.guard import train_guard
from sagert.settings.run import load_config
from sagert.workflows import train as workflow


def train(
    config: Path = typer.Argument(..., help="The run config whose export to train on."),
    method: str | None = typer.Option(
        None, help="dpo, simpo or guard (a guardrail classifier; default: train.method)."
    ),
    base_model: str | None = typer.Option(None, help="embedded, a folder, a .gguf or a Hub id."),
    max_steps: int | None = typer.Option(None, help="Stop after this many optimizer steps."),
    output: Path | None = typer.Option(None, help="Default: runs/<name>/train/<method>."),
) -> None:
    """Align a model on the run's validated pairs (DPO, or SimPO via TRL's CPO trainer), or
    train a guardrail classifier on its records (--method guard)."""
    cfg = load_config(config)
    overrides = {"method": method, "base_model": base_model, "max_steps": max_steps}
    if method == "guard":
        train_guard(cfg, config, base_model=base_model, max_steps=max_steps, output=output)
        return
    settings = workflow.train_settings(cfg, overrides, file=config)
    result = workflow.run(cfg, settings, output=output)
    console().print(
        Text(
            f"{settings.method}: {result.steps} steps, loss {result.train_loss:.4f}, "
            f"{result.train_pairs} training pairs, {result.heldout_pairs} held out, "
            f"{result.dropped_too_long} dropped (prompt too long for max_length); "
            f"model: {result.final_model}"
        )
    )
    if result.recipe:
        console().print(Text(f"recipe: {result.recipe}"))
