"""The consoles every command prints to, and the options several commands share."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from sagert.core.errors import UserError
from sagert.settings.run import RunConfig, load_config

ConfigOption = typer.Option(None, "--config", "-c", help="Run config (YAML); default: built-in.")


def console() -> Console:
    # Piped output is read by programs and tests: do not wrap table cells at 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def config_or_default(path: Path | None) -> RunConfig:
    return load_config(path) if path is not None else RunConfig()


def run_dir_of(run: Path) -> Path:
    """RUN is a run folder or its config file."""
    if run.is_file():
        return load_config(run).run_dir
    if not run.is_dir():
        raise UserError("run directory not found", file=run, fix="give runs/NAME or CONFIG")
    return run
