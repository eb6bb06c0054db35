"""`sagert init`: a commented starter config."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import typer

from sagert.core.errors import UserError
from sagert.settings.run import load_config


def init(
    path: Path = typer.Argument(Path("sagert.yaml"), help="Where to write the config."),
    name: str | None = typer.Option(None, help="Run name (default: quickstart)."),
    force: bool = typer.Option(False, help="Overwrite an existing file."),
) -> None:
    """Write a commented starter config."""
    if path.exists() and not force:
        raise UserError(
            "file exists", file=path, fix="pass --force to overwrite, or pick a new path"
        )
    text = files("sagert").joinpath("data/starter.yaml").read_text(encoding="utf-8")
    if name:
        text = text.replace("name: quickstart", f"name: {name}", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    load_config(path)  # what we write must load
    typer.echo(f"wrote {path}")
