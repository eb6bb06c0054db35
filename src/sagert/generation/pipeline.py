"""`sagert generate`: the stages in order, each reading the previous stage's file (streamed).

Taxonomy -> expand -> sample -> raw_text -> extract -> evolve -> attack -> responses -> judge
-> pairs; then the export. A failed record stays in its stage's file and goes no further.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sagert.context import RunContext
from sagert.dataset.stages import JudgeResponses, Pairs, Responses
from sagert.generation.expand import expand_taxonomy
from sagert.generation.sample import sample_records
from sagert.generation.stages import Attack, Evolve, Extract, RawText
from sagert.pipeline import ProgressFactory, Stage, StageSummary, run_stage
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


@dataclass
class StepPlan:
    stage: Stage
    concurrency: int


def generation_steps(ctx: RunContext) -> list[StepPlan]:
    """The record stages after expansion and sampling, as configured."""
    s = ctx.config.stages
    steps = [
        StepPlan(RawText(s.raw_text), s.raw_text.concurrency),
        StepPlan(Extract(s.extract), s.extract.concurrency),
    ]
    if s.evolve.rounds > 0 and s.evolve.operators:
        steps.append(StepPlan(Evolve(s.evolve), s.evolve.concurrency))
    if s.attack.per_prompt > 0 or not s.attack.include_plain:
        steps.append(StepPlan(Attack(s.attack), s.attack.concurrency))
    judge = JudgeResponses(s.judge)
    steps += [
        StepPlan(Responses(s.responses), s.responses.concurrency),
        StepPlan(judge, s.judge.concurrency),
        StepPlan(Pairs(judge.judge.name), 256),
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
        with progress(step.stage.name, total) as advance:
            summaries.append(
                await run_stage(
                    step.stage, inputs, ctx, concurrency=step.concurrency, on_progress=advance
                )
            )
        if until == step.stage.name:
            break
        out_path = ctx.store.stage_path(step.stage.name)
        inputs, total = ok_records(out_path), count_ok(out_path)
    return summaries
