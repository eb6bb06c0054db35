"""`sagert generate`: the stages in order, each reading the previous stage's file (streamed).

Taxonomy -> expand -> sample -> raw_text -> extract -> evolve -> attack -> responses -> judge
-> pairs; then the export. A failed record stays in its stage's file and goes no further.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from sagert.core.errors import UserError
from sagert.engine.context import RunContext
from sagert.engine.progress import Advance, ProgressFactory, no_progress
from sagert.engine.runner import StageSummary, run_stage
from sagert.engine.session import open_run
from sagert.engine.stage import Stage
from sagert.generation.sample import sample_records
from sagert.settings.run import RunConfig
from sagert.stages.expand import expand_taxonomy
from sagert.stages.generation import Attack, Evolve, Extract, RawText
from sagert.stages.pairs import JudgeResponses, Pairs, Responses
from sagert.store.records import Record

GENERATION_STAGES = (
    "expand",
    "raw_text",
    "extract",
    "evolve",
    "attack",
    "responses",
    "judge",
    "pairs",
)


Runner = Callable[[Iterator[Record], Advance], Awaitable[StageSummary]]


@dataclass
class StepPlan:
    """A named step: a record stage under run_stage, or a whole-stream step such as dedup."""

    name: str
    run: Runner


def _stage_step(ctx: RunContext, stage: Stage, concurrency: int) -> StepPlan:
    async def run(inputs: Iterator[Record], advance: Advance) -> StageSummary:
        return await run_stage(stage, inputs, ctx, concurrency=concurrency, on_progress=advance)

    return StepPlan(stage.name, run)


def _dedup_step(ctx: RunContext) -> StepPlan:
    settings = ctx.config.stages.dedup

    async def run(inputs: Iterator[Record], advance: Advance) -> StageSummary:
        from sagert.stages.dedup import run_dedup  # datasketch loads scipy: ~1 s

        return await run_dedup(ctx, inputs, settings, on_progress=advance)

    return StepPlan("dedup", run)


def generation_steps(ctx: RunContext) -> list[StepPlan]:
    """The steps after expansion and sampling, as configured.

    Dedup runs before the attack styles: templates wrap many prompts in the same words, which
    would make attacked variants look alike whatever the request inside.
    """
    s = ctx.config.stages
    steps = [
        _stage_step(ctx, RawText(s.raw_text), s.raw_text.concurrency),
        _stage_step(ctx, Extract(s.extract), s.extract.concurrency),
    ]
    if s.evolve.rounds > 0 and s.evolve.operators:
        steps.append(_stage_step(ctx, Evolve(s.evolve), s.evolve.concurrency))
    if s.dedup.exact or s.dedup.minhash or s.dedup.embedding:
        steps.append(_dedup_step(ctx))
    if s.attack.per_prompt > 0 or not s.attack.include_plain:
        steps.append(_stage_step(ctx, Attack(s.attack), s.attack.concurrency))
    judge = JudgeResponses(s.judge)
    steps += [
        _stage_step(ctx, Responses(s.responses), s.responses.concurrency),
        _stage_step(ctx, judge, s.judge.concurrency),
        _stage_step(ctx, Pairs(judge.judge.name), 256),
    ]
    return steps


async def run_generation(
    ctx: RunContext, progress: ProgressFactory, until: str | None = None
) -> list[StageSummary]:
    cfg = ctx.config
    tree, summaries = await expand_taxonomy(ctx, cfg.stages.expand, progress)
    if until == "expand":
        return summaries
    inputs: Iterator[Record] = sample_records(tree, cfg.stages.sample, cfg.seed)
    total: int | None = cfg.stages.sample.n_samples
    for step in generation_steps(ctx):
        with progress(step.name, total) as advance:
            summaries.append(await step.run(inputs, advance))
        if until == step.name:
            break
        inputs = ctx.store.records(step.name, ok_only=True)
        total = ctx.store.count(step.name, ok_only=True)
    return summaries


def check_until(until: str | None) -> None:
    if until is not None and until not in GENERATION_STAGES:
        known = ", ".join(GENERATION_STAGES)
        raise UserError(f"unknown stage {until!r}", fix=f"use one of: {known}")


def run(
    config: RunConfig, *, until: str | None = None, progress: ProgressFactory = no_progress
) -> list[StageSummary]:
    """`sagert generate`: every stage (or those up to `until`), resumable."""
    check_until(until)

    async def go() -> list[StageSummary]:
        async with open_run(config) as ctx:
            return await run_generation(ctx, progress, until)

    return asyncio.run(go())
