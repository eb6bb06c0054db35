"""`sagert generate`: the stages in order, each reading the previous stage's file (streamed).

Taxonomy -> expand -> sample -> raw_text -> extract -> evolve -> attack -> responses -> judge
-> pairs; then the export. A failed record stays in its stage's file and goes no further.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sagert.context import RunContext
from sagert.dataset.stages import JudgeResponses, Pairs, Responses
from sagert.generation.expand import expand_taxonomy
from sagert.generation.sample import sample_records
from sagert.generation.stages import Attack, Evolve, Extract, RawText
from sagert.pipeline import Advance, ProgressFactory, Stage, StageSummary, run_stage
from sagert.store.jsonl import read_records
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


def ok_records(path: Path) -> Iterator[Record]:
    """The completed records of a stage; failed ones stay in its file, counted there."""
    return (r for r in read_records(path) if r.status == "ok")


def count_ok(path: Path) -> int:
    return sum(1 for _ in ok_records(path))


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
        from sagert.diversity.stage import run_dedup  # datasketch loads scipy: ~1 s

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
        out_path = ctx.store.stage_path(step.name)
        inputs, total = ok_records(out_path), count_ok(out_path)
    return summaries
