"""`sagert taxonomy expand`: the config's taxonomy expanded by the generator (resumable)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.session import open_run
from sagert.settings.run import RunConfig
from sagert.stages.expand import expand_taxonomy
from sagert.store.paths import RunPaths
from sagert.taxonomy import Taxonomy


def expand(config: RunConfig, *, progress: ProgressFactory = no_progress) -> tuple[Taxonomy, Path]:
    """The expanded tree, and where it was written (`runs/<name>/taxonomy.yaml`)."""

    async def go() -> Taxonomy:
        async with open_run(config) as ctx:
            tree, _ = await expand_taxonomy(ctx, config.stages.expand, progress)
            return tree

    return asyncio.run(go()), RunPaths(config.run_dir).taxonomy
