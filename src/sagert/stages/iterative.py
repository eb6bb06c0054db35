"""`pair`, `tap`, `crescendo`: an iterative attack on each prompt (its goal), as pipeline stages.

Each input prompt is a goal. The attacker, target and judge roles run the attack through
`sagert.engine.iterative`; every step is a record in `stages/<name>_steps.jsonl` (the step
log), so a killed run resumes step by step, not goal by goal. The stage's own output, one
record per goal, is the final attack: the succeeding step when the attack succeeded, else the
best scoring one; its prompt (and for Crescendo the conversation, `turns`), the target's answer
(`responses.target`), the step's scores and `meta.redteam` (outcome, success, best score,
steps). A goal whose every step failed is a failed record naming the first reason.

The step log is written where the stage runs, so these stages need the local executor.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from sagert.core.errors import UserError
from sagert.engine.context import RunContext
from sagert.engine.iterative import (
    AttackContext,
    AttackResult,
    Scorer,
    StepLog,
    run_crescendo,
    run_pair,
    run_tap,
)
from sagert.engine.stage import stages
from sagert.judges import make_judge
from sagert.judges.base import Judge, JudgeContext
from sagert.models.types import GenerateConfig
from sagert.settings.iterative import AttackJudging, CrescendoStage, PairStage, TapStage
from sagert.store.records import LineageStep, Record

TARGET = "target"


def steps_stage(name: str) -> str:
    """The step log's stage name: `pair_steps` beside the stage's own `pair`."""
    return f"{name}_steps"


@dataclass
class IterativeAttack:
    """What the three stages share; a subclass says which attack runs (`attack`)."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt",)
    makes: ClassVar[tuple[str, ...]] = (
        "prompt",
        "turns",
        "responses.target",
        "scores",
        "meta.redteam",
    )
    Settings: ClassVar[type[BaseModel]] = AttackJudging

    settings: AttackJudging
    judge: Judge = field(init=False)
    _logs: dict[str, StepLog] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.judge = make_judge(self.settings.judge, self.settings.judge_settings)

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        return ("attacker", TARGET, *(("judge",) if self.judge.needs_model else ()))

    async def attack(self, goal: Record, ctx: AttackContext) -> AttackResult:
        raise NotImplementedError

    def step_log(self, ctx: RunContext) -> StepLog:
        """One log per run folder, read once; with --retry-failed failed steps are taken again."""
        if ctx.store.read_only:
            raise UserError(
                f"stage {self.name!r} writes its step log in the run folder",
                field="executor",
                fix="run it with executor: local",
            )
        root = str(ctx.store.path)
        log = self._logs.get(root)
        if log is None:
            name = steps_stage(self.name)
            file = ctx.store.stage_file(name)  # opened first: it cuts a torn last line
            done = [r for r in ctx.store.records(name) if r.status == "ok" or not ctx.retry_failed]
            log = StepLog(file, done, name)
            weakref.finalize(self, log.close)
            self._logs[root] = log
        return log

    def context(self, ctx: RunContext) -> AttackContext:
        target = ctx.role(TARGET)
        judge_model = ctx.role("judge") if self.judge.needs_model else None
        return AttackContext(
            attacker=ctx.role("attacker"),
            target=target,
            scorer=Scorer(self.judge, JudgeContext(templates=ctx.templates, model=judge_model)),
            templates=ctx.templates,
            log=self.step_log(ctx),
            seed=ctx.config.seed,
            target_name=TARGET,
            target_model=target.spec.model,
            target_config=GenerateConfig(max_tokens=self.settings.max_tokens),
        )

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        result = await self.attack(record, self.context(ctx))
        return [final_record(self.name, record, result)]


def final_record(stage: str, goal: Record, result: AttackResult) -> Record:
    """The goal's outcome: its succeeding (else best) step as the attack, or a failure."""
    final = result.steps[-1] if result.success else result.best
    if final is None:
        reasons = [s.failure.reason for s in result.steps if s.failure is not None]
        why = reasons[0] if reasons else "no step was answered"
        return goal.failed(stage, f"{stage} {result.outcome}: {why}")
    goal_text = goal.prompt or ""
    summary = {
        "attack": stage,
        "goal": goal_text,
        "outcome": result.outcome,
        "success": result.success,
        "best_score": float(final.meta["value"]),
        "steps": len(result.steps),
        "step_id": final.id,
    }
    step = LineageStep(name=f"attack:{stage}", before=goal_text, after=final.prompt or "")
    return goal.child(
        stage,
        prompt=final.prompt,
        seed_prompt=goal.seed_prompt or goal_text,
        turns=final.turns,
        responses={**goal.responses, TARGET: final.responses[TARGET]},
        scores={**goal.scores, **final.scores},
        lineage=[*goal.lineage, step],
        meta={**goal.meta, "attack": stage, "redteam": summary},
    )


@stages.register("pair", "PAIR: attacker streams refine a prompt per goal until the judge agrees.")
@dataclass
class Pair(IterativeAttack):
    Settings: ClassVar[type[BaseModel]] = PairStage
    settings: PairStage

    async def attack(self, goal: Record, ctx: AttackContext) -> AttackResult:
        return await run_pair(goal, ctx, self.settings)


@stages.register("tap", "TAP: a pruned tree of attacker refinements per goal.")
@dataclass
class Tap(IterativeAttack):
    Settings: ClassVar[type[BaseModel]] = TapStage
    settings: TapStage

    async def attack(self, goal: Record, ctx: AttackContext) -> AttackResult:
        return await run_tap(goal, ctx, self.settings)


@stages.register("crescendo", "Crescendo: a multi-turn escalation per goal, refusals taken back.")
@dataclass
class Crescendo(IterativeAttack):
    Settings: ClassVar[type[BaseModel]] = CrescendoStage
    settings: CrescendoStage

    async def attack(self, goal: Record, ctx: AttackContext) -> AttackResult:
        return await run_crescendo(goal, ctx, self.settings)
