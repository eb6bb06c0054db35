"""`sagert respond`: a role answers every prompt of a file; re-running resumes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sagert.core.errors import UserError
from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.runner import run_stage
from sagert.engine.session import open_run
from sagert.engine.summary import StageSummary
from sagert.settings.run import ROLES, RunConfig
from sagert.stages.respond import Respond
from sagert.store.prompts import read_prompts


def run(
    config: RunConfig,
    prompts: Path,
    *,
    column: str = "prompt",
    role: str | None = None,
    progress: ProgressFactory = no_progress,
    retry_failed: bool = False,
) -> StageSummary:
    settings = config.stages.respond
    if role is not None:
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}", fix=f"use one of: {', '.join(ROLES)}")
        settings = settings.model_copy(update={"role": role})
    # One pass validates the whole file before any model call and counts it for the bar.
    total = sum(1 for _ in read_prompts(prompts, column))
    stage = Respond(settings)

    async def go() -> StageSummary:
        async with open_run(config, retry_failed=retry_failed) as ctx:
            with progress(stage.name, total) as advance:
                return await run_stage(
                    stage,
                    read_prompts(prompts, column),
                    ctx,
                    concurrency=settings.concurrency,
                    on_progress=advance,
                )

    return asyncio.run(go())
