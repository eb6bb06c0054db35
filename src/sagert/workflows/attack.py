"""`sagert redteam CONFIG --method pair|tap|crescendo -i PROMPTS`: attack each prompt of a file.

Each prompt is a goal; the method's stage (`stages.<method>` settings) runs on them like
`respond` does, so re-running resumes: finished goals are skipped, and an unfinished goal
replays the steps in its step log and takes only the rest.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import sagert.stages  # noqa: F401  (registers the stages)
from sagert.core.errors import UserError
from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.runner import run_stage
from sagert.engine.session import open_run
from sagert.engine.stage import RecordStage, build, stages
from sagert.engine.summary import StageSummary
from sagert.settings.run import RunConfig
from sagert.store.prompts import read_prompts

METHODS = ("pair", "tap", "crescendo")


@dataclass(frozen=True)
class AttackRun:
    summary: StageSummary
    attacked: int
    """Goals with a final attack in the run folder (this run or an earlier one)."""
    successes: int


def stage_for(config: RunConfig, method: str) -> RecordStage:
    if method not in METHODS:
        raise UserError(
            f"unknown attack method {method!r}", fix=f"use one of: {', '.join(METHODS)}"
        )
    stage = build(stages.get(method), config)
    assert isinstance(stage, RecordStage)
    return stage


def run(
    config: RunConfig,
    method: str,
    prompts: Path,
    *,
    column: str = "prompt",
    progress: ProgressFactory = no_progress,
    retry_failed: bool = False,
) -> AttackRun:
    stage = stage_for(config, method)
    # One pass validates the whole file before any model call and counts it for the bar.
    total = sum(1 for _ in read_prompts(prompts, column))

    async def go() -> AttackRun:
        async with open_run(config, retry_failed=retry_failed) as ctx:
            with progress(stage.name, total) as advance:
                summary = await run_stage(
                    stage,
                    read_prompts(prompts, column),
                    ctx,
                    concurrency=stage.settings.concurrency,
                    on_progress=advance,
                )
            finals = [r.meta["redteam"] for r in ctx.store.records(stage.name, ok_only=True)]
            return AttackRun(summary, len(finals), sum(bool(f["success"]) for f in finals))

    return asyncio.run(go())
