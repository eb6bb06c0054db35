"""`sagert list KIND`: what is registered."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from sagert.cli.console import ConfigOption, config_or_default, console
from sagert.core.errors import UserError
from sagert.core.templates import Templates
from sagert.workflows.catalog import KINDS, rows


def list_kind(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}."),
    config: Path | None = ConfigOption,
) -> None:
    """List registered plugins of one kind."""
    if kind not in KINDS:
        raise UserError(f"unknown kind {kind!r}", fix=f"use one of: {', '.join(KINDS)}")
    templates = Templates(config_or_default(config).templates_dir)
    table = Table("name", "description" if kind != "templates" else "from", title=kind)
    for name, desc in rows(kind, templates):
        table.add_row(Text(name), Text(desc))  # Text: a `[...]` in a description is not markup
    console().print(table)
