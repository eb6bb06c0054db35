"""`sagert baseline`: the naive baseline on the same generator and call budget.

SAGE-RT claims its process (expansion, formats, raw text, evolution) avoids the mode collapse of
naive generation; `sagert stats` of the two runs side by side measures that claim on the same
model and budget. When the config turns the prompt gate on (`stages.gate.judge`), the baseline's
prompts go through the same gate (`gate_extract`: harm check), so both runs report harmful
prompts per 1,000 generated tokens (the manifest's `yields`); without a gate, prompts per 1,000.
With `pairs` the prompts that pass also go through the config's answer stages (responses,
judge, pairs), so both runs report validated pairs per 1,000 generated tokens on one judge.
The baseline's generator prompt is cleaned and its refusals filtered as sagert's are.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.engine.plan import execute, plan
from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.runner import run_stage
from sagert.engine.session import open_run
from sagert.engine.stage import StreamStage, build, is_active, stages
from sagert.engine.summary import StageSummary
from sagert.results.yields import run_yield
from sagert.settings.run import RunConfig
from sagert.stages.baseline import Baseline, baseline_sources
from sagert.store.run import RunStore
from sagert.taxonomy import load_taxonomy

GENERATION_STAGES = ("raw_text", "extract", "evolve", "attack", "expand")
"""The stages whose generator calls the baseline matches."""
BASELINE_GATE = "gate_extract"
"""The gate a baseline's prompts go through: the harm check (a baseline prompt is its seed)."""
ANSWER_STAGES = ("responses", "judge", "pairs")
"""What `pairs=True` runs on the baseline's prompts: the same stages, settings and judge."""
ANSWER_SOURCE = ("prompt", "seed_prompt", "taxonomy")


@dataclass(frozen=True)
class BaselineResult:
    summary: StageSummary
    config: RunConfig
    calls: int
    gate: StageSummary | None = None
    """The prompt gate's summary, when the config turned the gate on."""
    yields: dict[str, Any] | None = None
    answers: tuple[StageSummary, ...] = ()
    """The answer stages' summaries (responses, judge, pairs), when asked for."""

    @property
    def summaries(self) -> list[StageSummary]:
        return [self.summary, *([self.gate] if self.gate else []), *self.answers]

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir


def generator_calls(run_dir: Path) -> int:
    """Generator calls the SAGE run spent on its generation stages (retries included)."""
    store = RunStore(run_dir, read_only=True)
    if not store.paths.manifest.is_file():
        raise UserError(
            "no finished run to match", file=store.paths.manifest, fix="run sagert generate first"
        )
    return store.manifest().generator_calls(GENERATION_STAGES)


def run(
    config: RunConfig,
    *,
    calls: int | None = None,
    pairs: bool = False,
    progress: ProgressFactory = no_progress,
) -> BaselineResult:
    """The baseline run; `pairs`: its (gated) prompts also go through the config's answer
    stages (responses, judge, pairs), so it reports validated pairs per 1,000 tokens too."""
    budget = calls if calls is not None else generator_calls(config.run_dir)
    if budget < 1:
        raise UserError("the run spent no generator calls", fix="pass --calls N")
    base_cfg = config.model_copy(update={"name": f"{config.name}-baseline"})
    tree = load_taxonomy(config.taxonomy)

    gate = build(stages.get(BASELINE_GATE), base_cfg)  # a bad gate judge fails before any call
    answers = plan(base_cfg, ANSWER_STAGES, source=ANSWER_SOURCE) if pairs else None

    async def go() -> tuple[list[StageSummary], StageSummary | None, dict[str, Any]]:
        async with open_run(base_cfg) as ctx:
            with progress("baseline", budget) as advance:
                summary = await run_stage(
                    Baseline(base_cfg.stages.baseline),
                    baseline_sources(tree, budget, base_cfg.seed),
                    ctx,
                    concurrency=base_cfg.stages.baseline.concurrency,
                    on_progress=advance,
                )
            gated = None
            prompts = ctx.store.records("baseline", ok_only=True)
            total: int | None = ctx.store.count("baseline", ok_only=True)
            if is_active(gate) and isinstance(gate, StreamStage):
                (gated,) = await gate.run_stream(prompts, total, ctx, progress)
                prompts, total = gate.outputs(ctx)
            answered: list[StageSummary] = []
            if answers is not None:
                answered = await execute(ctx, answers, prompts, total, progress)
            yields = run_yield(ctx.store)
            ctx.store.record_yield(yields)
            return [summary, *answered], gated, yields

    (summary, *answered), gated, yields = asyncio.run(go())
    return BaselineResult(summary, base_cfg, budget, gated, yields, tuple(answered))
