"""`sagert taxonomy list|show|expand`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from sagert.cli.progress import stage_progress
from sagert.cli.run import open_run
from sagert.config import RunConfig, load_config
from sagert.generation.expand import expand_taxonomy
from sagert.taxonomy import Taxonomy
from sagert.taxonomy.cli import taxonomy_app

__all__ = ["taxonomy_app"]


@taxonomy_app.command("expand")
def expand(config: Path = typer.Argument(..., help="Run config (YAML).")) -> None:
    """Expand the config's taxonomy with the generator; re-running resumes."""
    cfg = load_config(config)
    tree = asyncio.run(_expand(cfg))
    counts = ", ".join(f"{level}: {n}" for level, n in tree.counts().items())
    Console().print(Text(f"{cfg.run_dir / 'taxonomy.yaml'}  ({counts})"))


async def _expand(cfg: RunConfig) -> Taxonomy:
    async with open_run(cfg) as ctx:
        tree, _ = await expand_taxonomy(ctx, cfg.stages.expand, stage_progress)
        return tree
