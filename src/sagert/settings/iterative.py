"""`stages.pair`, `stages.tap`, `stages.crescendo`: the iterative attacks' shapes and judging.

The attack shapes (`PairSettings`...) are what `sagert.engine.iterative` takes; the stage
sections add what a pipeline stage needs beside them: the judge that scores each step, the
target's answer length and the goals attacked at once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PairSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    streams: int = Field(default=3, gt=0, description="Independent attacker conversations.")
    depth: int = Field(default=3, gt=0, description="Refinements per stream at most.")


class TapSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    branching: int = Field(default=2, gt=0, description="Proposals per kept leaf per level.")
    width: int = Field(default=3, gt=0, description="Leaves kept per level (the best scoring).")
    depth: int = Field(default=3, gt=0, description="Levels at most.")


class CrescendoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_turns: int = Field(default=5, gt=0, description="Kept turns at most.")
    max_backtracks: int = Field(default=3, ge=0, description="Refused turns taken back at most.")


class AttackJudging(BaseModel):
    """What every iterative attack stage adds to its attack's shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    judge: str = Field(default="strongreject", description="Scores each step: a registered judge.")
    judge_settings: dict[str, Any] = Field(default_factory=dict)
    max_tokens: int = Field(default=256, gt=0, description="The target's answer length.")
    concurrency: int = Field(default=8, ge=1, le=4096, description="Goals attacked at once.")


class PairStage(PairSettings, AttackJudging):
    """PAIR on each prompt (the goal): streams x depth attacker refinements."""


class TapStage(TapSettings, AttackJudging):
    """TAP on each prompt: a pruned tree of refinements."""


class CrescendoStage(CrescendoSettings, AttackJudging):
    """Crescendo on each prompt: a multi-turn escalation with backtracking."""
