"""A pipeline: stage names resolved through the registry and checked before any model call.

Each stage declares the record fields it needs and makes ("prompt", "responses.chosen",
"meta.topic"); a need is met by the source or by an earlier stage that makes that field, a
field above it ("responses" makes "responses.chosen") or one below it. A stage that needs what
nothing before it makes fails the plan with one line naming both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sagert.core.errors import UserError
from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory
from sagert.engine.runner import run_stage
from sagert.engine.stage import RecordStage, Stage, StreamStage, build, is_active, stages
from sagert.engine.summary import StageSummary, stopped_by
from sagert.settings.run import RunConfig
from sagert.store.records import Record

DEFAULT_CONCURRENCY = 64


@dataclass(frozen=True)
class Plan:
    """The stages of a run, in order; `names` includes stages configured off (skipped)."""

    names: tuple[str, ...]
    stages: tuple[Stage, ...]

    def check_until(self, until: str | None) -> None:
        if until is not None and until not in self.names:
            raise UserError(f"unknown stage {until!r}", fix=f"use one of: {', '.join(self.names)}")


def provides(made: Iterable[str], need: str) -> bool:
    return any(m == need or need.startswith(f"{m}.") or m.startswith(f"{need}.") for m in made)


def plan(config: RunConfig, names: Iterable[str], *, source: tuple[str, ...]) -> Plan:
    """Resolve and check; `source`: the fields the records the pipeline starts from have."""
    names = tuple(names)
    _check_sections(config, names)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(
            f"stage {twice[0]!r} is in the pipeline twice",
            field="pipeline",
            fix="list each stage once (each writes its own stages/NAME.jsonl)",
        )
    built: list[Stage] = []
    made = list(source)
    for i, name in enumerate(names):
        if name not in stages:
            raise UserError(
                f"unknown stage {name!r}",
                field=f"pipeline[{i}]",
                fix=f"use one of: {', '.join(stages.names())} (or install its plugin)",
            )
        stage = build(stages.get(name), config)
        if not is_active(stage):
            continue
        for need in stage.needs:
            if not provides(made, need):
                before = ", ".join(s.name for s in built) or "the source"
                raise UserError(
                    f"stage {name!r} needs {need!r}, which no stage before it makes ({before})",
                    field="pipeline",
                    fix=f"put a stage that makes {need!r} before {name!r}",
                )
        made += stage.makes
        built.append(stage)
    return Plan(names, tuple(built))


def _check_sections(config: RunConfig, names: tuple[str, ...]) -> None:
    """A `stages.X` section that is no stage is a typo: say so instead of ignoring it."""
    for key in config.stages.model_extra or {}:
        if key not in stages:
            raise UserError(
                f"no stage named {key!r}",
                field=f"stages.{key}",
                fix=f"use one of: {', '.join(stages.names())} (or install its plugin)",
            )


async def execute(
    ctx: RunContext,
    steps: Plan,
    inputs: Iterator[Record],
    total: int | None,
    progress: ProgressFactory,
    until: str | None = None,
) -> list[StageSummary]:
    """Run the plan's stages in order, each reading the completed records of the one before."""
    summaries: list[StageSummary] = []
    last = steps.names.index(until) if until is not None else len(steps.names)
    for stage in steps.stages:
        if steps.names.index(stage.name) > last:
            break  # `until` named a stage configured off: stop where it would have run
        if isinstance(stage, StreamStage):
            summaries += await stage.run_stream(inputs, total, ctx, progress)
            inputs, total = stage.outputs(ctx)
        elif isinstance(stage, RecordStage):
            concurrency = getattr(stage.settings, "concurrency", DEFAULT_CONCURRENCY)
            with progress(stage.name, total) as advance:
                summaries.append(
                    await run_stage(
                        stage, inputs, ctx, concurrency=concurrency, on_progress=advance
                    )
                )
            inputs = ctx.store.records(stage.name, ok_only=True)
            total = ctx.store.count(stage.name, ok_only=True)
        else:
            raise TypeError(f"stage {stage.name!r} has neither process() nor run_stream()")
        if until == stage.name or stopped_by(summaries):
            break  # a budget stopped this stage: the next ones would see part of its output
    return summaries
