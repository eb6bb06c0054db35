"""TAP (Mehrotra et al. 2023): a tree of PAIR refinements, pruned twice per level.

Each level, every kept leaf branches into `branching` attacker proposals. A proposal the
on-topic check (the attacker with redteam/on_topic.j2) finds off the goal is pruned before the
target is asked (a step record with `meta.pruned = "off_topic"`, no target call); the rest are
answered and judged, and only the `width` best scoring (ties: the earlier one) are kept for the
next level. The attack stops at the first success or after `depth` levels.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sagert.engine.iterative.pair import TEMPLATE, Proposal
from sagert.engine.iterative.steps import AttackContext, AttackResult, succeeded, value_of
from sagert.models.types import Message
from sagert.store.records import Record

ON_TOPIC = "redteam/on_topic.j2"


class TapSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    branching: int = Field(default=2, gt=0, description="Proposals per kept leaf per level.")
    width: int = Field(default=3, gt=0, description="Leaves kept per level (the best scoring).")
    depth: int = Field(default=3, gt=0, description="Levels at most.")


class OnTopic(BaseModel):
    on_topic: bool


Branch = list[dict[str, Any]]
"""A leaf's history: its ancestors' {prompt, response, score}, root first."""


async def run_tap(goal: Record, ctx: AttackContext, settings: TapSettings) -> AttackResult:
    steps: list[Record] = []
    frontier: list[tuple[str, Branch]] = [("root", [])]
    for depth in range(settings.depth):
        children: list[tuple[float, int, str, Branch]] = []
        for parent, history in frontier:
            for branch in range(settings.branching):
                key = ("tap", depth, parent, branch)
                step = await ctx.log.step(goal, key, _taker(goal, ctx, key, history, settings))
                steps.append(step)
                if step.status != "ok" or step.meta.get("pruned"):
                    continue
                value = float(step.meta["value"])
                entry: dict[str, Any] = {
                    "prompt": step.prompt,
                    "response": step.responses[ctx.target_name][0].text,
                    "score": value,
                }
                if succeeded(step.scores[ctx.scorer.judge.name]):
                    return AttackResult(goal, steps, "success")
                order = len(children)
                children.append((value, order, step.id, [*history, entry]))
        if not children:
            return AttackResult(goal, steps, "pruned")
        children.sort(key=lambda c: (-c[0], c[1]))
        frontier = [(step_id, branch) for _, _, step_id, branch in children[: settings.width]]
    return AttackResult(goal, steps, "depth")


def _taker(
    goal: Record, ctx: AttackContext, key: tuple[Any, ...], history: Branch, settings: TapSettings
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
            depth=key[1] + 1,
            max_depth=settings.depth,
        )
        meta = {
            **goal.meta,
            "attack": "tap",
            "depth": key[1],
            "parent_step": key[2],
            "branch": key[3],
            "improvement": proposal.improvement,
        }
        check = await ctx.propose(
            ON_TOPIC, OnTopic, goal, (*key, "on_topic"), goal=goal_text, prompt=proposal.prompt
        )
        changes: dict[str, Any] = {"prompt": proposal.prompt, "seed_prompt": goal_text}
        if not check.on_topic:
            return {**changes, "meta": {**meta, "pruned": "off_topic"}}
        response = await ctx.ask_target([Message(role="user", content=proposal.prompt)], goal, key)
        score = await ctx.scorer.score(goal_text, proposal.prompt, response.text)
        return {
            **changes,
            "responses": {ctx.target_name: [response]},
            "scores": {score.judge: score.model_dump()},
            "meta": {**meta, "value": value_of(score)},
        }

    return take
