"""PAIR (Chao et al. 2023): n streams, each an attacker refining one prompt up to a depth.

The attacker sees the goal and, for its stream, every earlier prompt with the target's answer
and the judge's score, and answers JSON {improvement, prompt}. The attack stops at the first
success (the judge's unsafe, i.e. a StrongREJECT score at or above its threshold); a stream
whose attacker fails ends, the others go on. Streams run one after another, so the order of
steps, and with it a resumed run, is the same every time.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sagert.engine.iterative.steps import AttackContext, AttackResult, succeeded, value_of
from sagert.models.types import Message
from sagert.store.records import Record

TEMPLATE = "redteam/pair.j2"


class PairSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    streams: int = Field(default=3, gt=0, description="Independent attacker conversations.")
    depth: int = Field(default=3, gt=0, description="Refinements per stream at most.")


class Proposal(BaseModel):
    """The attacker's answer: what it changes and why, and the new prompt."""

    improvement: str = ""
    prompt: str = Field(min_length=1)


async def run_pair(goal: Record, ctx: AttackContext, settings: PairSettings) -> AttackResult:
    steps: list[Record] = []
    for stream in range(settings.streams):
        history: list[dict[str, Any]] = []
        for depth in range(settings.depth):
            key = ("pair", stream, depth)
            step = await ctx.log.step(goal, key, _taker(goal, ctx, key, history, settings))
            steps.append(step)
            if step.status != "ok":
                break
            history.append(
                {
                    "prompt": step.prompt,
                    "response": step.responses[ctx.target_name][0].text,
                    "score": float(step.meta["value"]),
                }
            )
            if succeeded(step.scores[ctx.scorer.judge.name]):
                return AttackResult(goal, steps, "success")
    return AttackResult(goal, steps, "depth")


def _taker(
    goal: Record,
    ctx: AttackContext,
    key: tuple[Any, ...],
    history: list[dict[str, Any]],
    settings: PairSettings,
) -> Any:
    async def take() -> dict[str, Any]:
        goal_text = goal.prompt or ""
        proposal = await ctx.propose(
            TEMPLATE,
            Proposal,
            goal,
            key,
            goal=goal_text,
            history=history,
            depth=key[2] + 1,
            max_depth=settings.depth,
        )
        response = await ctx.ask_target([Message(role="user", content=proposal.prompt)], goal, key)
        score = await ctx.scorer.score(goal_text, proposal.prompt, response.text)
        return {
            "prompt": proposal.prompt,
            "seed_prompt": goal.seed_prompt or goal_text,
            "responses": {ctx.target_name: [response]},
            "scores": {score.judge: score.model_dump()},
            "meta": {
                **goal.meta,
                "attack": "pair",
                "stream": key[1],
                "depth": key[2],
                "improvement": proposal.improvement,
                "value": value_of(score),
            },
        }

    return take
