"""`sagert taxonomy expand`: the config's taxonomy expanded by the generator (resumable)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.session import open_run
from sagert.engine.summary import stopped_by
from sagert.settings.run import RunConfig
from sagert.stages.expand import expand_taxonomy
from sagert.store.paths import RunPaths
from sagert.taxonomy import Taxonomy


def expand(
    config: RunConfig, *, progress: ProgressFactory = no_progress, out: Path | None = None
) -> tuple[Taxonomy, Path]:
    """The expanded tree, and where it was written (`runs/<name>/taxonomy.yaml`); `out`: a copy
    there too, a taxonomy file another config can start from (with `expand: {depth: 0}`)."""

    async def go() -> tuple[Taxonomy, bool]:
        async with open_run(config) as ctx:
            tree, summaries = await expand_taxonomy(ctx, config.stages.expand, progress)
            return tree, stopped_by(summaries) is not None

    tree, stopped = asyncio.run(go())
    if out is not None and not stopped:  # a budget stopped it: no file of half a tree
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(tree.to_yaml(), encoding="utf-8")
    return tree, RunPaths(config.run_dir).taxonomy
