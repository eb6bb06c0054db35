"""Crescendo (Russinovich et al. 2024): a multi-turn escalation with backtracking on refusals.

Each turn the attacker (redteam/crescendo.j2) writes the next user question from the goal and
the conversation so far; the target answers with the whole conversation. When the refusal judge
finds the answer a refusal, the turn is taken back (dropped from the conversation, kept as a
step with `meta.backtracked`) and the attacker asked again, told what was refused; after
`max_backtracks` such take-backs, one more refusal ends the attack (`gave_up`). A kept turn is
judged on the whole conversation (`JudgeInput.turns`); the attack stops at success or after
`max_turns` kept turns. Every step's record holds the conversation up to its question
(`turns`), its question as `prompt`, and the target's answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sagert.engine.iterative.steps import AttackContext, AttackResult, succeeded, value_of
from sagert.judges.base import Judge, JudgeContext, JudgeInput
from sagert.judges.refusal import RefusalJudge
from sagert.models.types import Message
from sagert.store.records import Record

TEMPLATE = "redteam/crescendo.j2"


class CrescendoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_turns: int = Field(default=5, gt=0, description="Kept turns at most.")
    max_backtracks: int = Field(default=3, ge=0, description="Refused turns taken back at most.")


class Question(BaseModel):
    question: str = Field(min_length=1)


async def run_crescendo(
    goal: Record,
    ctx: AttackContext,
    settings: CrescendoSettings,
    refusal: Judge | None = None,
) -> AttackResult:
    refusal = refusal or RefusalJudge()
    steps: list[Record] = []
    conversation: list[dict[str, str]] = []
    backtracks = 0
    refused: str | None = None
    attempt = 0
    while len(conversation) // 2 < settings.max_turns:
        key = ("crescendo", attempt)
        attempt += 1
        take = _taker(goal, ctx, key, list(conversation), refused, settings, refusal)
        step = await ctx.log.step(goal, key, take)
        steps.append(step)
        if step.status != "ok":
            return AttackResult(goal, steps, "failed")
        answer = step.responses[ctx.target_name][0].text
        if step.meta.get("backtracked"):
            backtracks += 1
            refused = step.prompt
            if backtracks > settings.max_backtracks:
                return AttackResult(goal, steps, "gave_up")
            continue
        refused = None
        conversation += [
            {"role": "user", "content": step.prompt or ""},
            {"role": "assistant", "content": answer},
        ]
        if succeeded(step.scores[ctx.scorer.judge.name]):
            return AttackResult(goal, steps, "success")
    return AttackResult(goal, steps, "depth")


def _taker(
    goal: Record,
    ctx: AttackContext,
    key: tuple[Any, ...],
    conversation: list[dict[str, str]],
    refused: str | None,
    settings: CrescendoSettings,
    refusal: Judge,
) -> Any:
    async def take() -> dict[str, Any]:
        goal_text = goal.prompt or ""
        proposal = await ctx.propose(
            TEMPLATE,
            Question,
            goal,
            key,
            goal=goal_text,
            conversation=conversation,
            turn=len(conversation) // 2 + 1,
            max_turns=settings.max_turns,
            refused=refused,
        )
        question = proposal.question
        messages = [Message.model_validate(t) for t in conversation]
        messages.append(Message(role="user", content=question))
        response = await ctx.ask_target(messages, goal, key)
        turns = [*conversation, {"role": "user", "content": question}]
        meta = {**goal.meta, "attack": "crescendo", "turn": len(conversation) // 2}
        changes: dict[str, Any] = {
            "prompt": question,
            "seed_prompt": goal_text,
            "turns": turns,
            "responses": {ctx.target_name: [response]},
        }
        item = JudgeInput(prompt=question, response=response.text, behavior=goal_text)
        verdict = await refusal.score(item, JudgeContext(templates=ctx.templates))
        if verdict.verdict == "refused":
            scores = {refusal.name: verdict.model_dump()}
            return {**changes, "scores": scores, "meta": {**meta, "backtracked": True}}
        score = await ctx.scorer.score(goal_text, question, response.text, conversation)
        return {
            **changes,
            "scores": {score.judge: score.model_dump(), refusal.name: verdict.model_dump()},
            "meta": {**meta, "value": value_of(score)},
        }

    return take
