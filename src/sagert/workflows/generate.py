"""`sagert generate`: the config's pipeline (SAGE-RT's stages by default), each stage reading
the completed records of the one before, streamed; then the export (by the CLI).

expand -> sample -> raw_text -> extract -> gate_extract -> evolve -> dedup -> attack ->
gate_attack -> responses -> judge -> pairs (the gates are off until stages.gate.judge is set).
A failed record stays in its stage's file and goes no further. Dedup runs before the attack
styles: templates wrap many prompts in the same words, which would make attacked variants look
alike whatever the request inside. The run's yield (pairs and prompts per 1,000 generated
tokens, each gate's harmful-prompt rate) is written to the manifest at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import sagert.stages  # noqa: F401  (registers the built-in stages)
from sagert.engine.context import RunContext
from sagert.engine.plan import Plan, execute, plan
from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.session import open_run
from sagert.engine.summary import StageSummary
from sagert.results.yields import run_yield
from sagert.settings.contrast import ExcludeSource
from sagert.settings.evaluate import PromptSource
from sagert.settings.run import RunConfig
from sagert.settings.stages import GENERATION_PIPELINE

GENERATION_STAGES = GENERATION_PIPELINE
SOURCE_FIELDS = ("taxonomy",)
"""What the pipeline starts from: the config's taxonomy."""


def with_test_sets(config: RunConfig, sources: Sequence[PromptSource]) -> RunConfig:
    """The config with `sources` (prompt files a model will be evaluated on) among the contrast
    stage's exclusions, so that no contrast pair is made from one of their prompts."""
    contrast = config.stages.contrast
    have = {ExcludeSource(path=x.path, loader=x.loader, column=x.column) for x in contrast.exclude}
    extra = list(
        dict.fromkeys(
            x
            for p in sources
            if (x := ExcludeSource(path=p.path, loader=p.loader, column=p.column)) not in have
        )
    )
    if contrast.share <= 0 or not extra:
        return config
    stages = config.stages.model_copy(
        update={"contrast": contrast.model_copy(update={"exclude": [*contrast.exclude, *extra]})}
    )
    return config.model_copy(update={"stages": stages})


def generation_plan(config: RunConfig) -> Plan:
    """The config's pipeline, resolved and checked (no model call, no run folder)."""
    return plan(config, config.pipeline, source=SOURCE_FIELDS)


async def run_generation(
    ctx: RunContext, progress: ProgressFactory, until: str | None = None
) -> list[StageSummary]:
    steps = generation_plan(ctx.config)
    steps.check_until(until)
    summaries = await execute(ctx, steps, iter(()), 0, progress, until)
    ctx.store.record_yield(run_yield(ctx.store))
    return summaries


def run(
    config: RunConfig,
    *,
    until: str | None = None,
    progress: ProgressFactory = no_progress,
    retry_failed: bool = False,
) -> list[StageSummary]:
    """`sagert generate`: every stage (or those up to `until`), resumable.

    `retry_failed`: records that failed for good are run again (and nothing else).
    """
    generation_plan(config).check_until(until)  # a bad pipeline fails before the run folder

    async def go() -> list[StageSummary]:
        async with open_run(config, retry_failed=retry_failed) as ctx:
            return await run_generation(ctx, progress, until)

    return asyncio.run(go())
