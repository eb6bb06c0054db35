"""`redteam:` section: `sagert redteam`'s MAP-Elites archive of attacks (descriptors, budget)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_STYLES = ("roleplay", "hypothetical", "refusal_suppression", "prefix_injection")


class RedteamSettings(BaseModel):
    """Cells are (risk category x attack style [x language]); each keeps its best attack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: Literal["sub", "leaves"] | list[str] = Field(
        default="sub",
        description="The taxonomy's sub-categories or leaves, or the keys of the ones to use.",
    )
    max_categories: int | None = Field(
        default=None, gt=0, description="At most N categories (the first, in taxonomy order)."
    )
    styles: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STYLES),
        min_length=1,
        description="Registered attack styles (`sagert list attacks`): the second descriptor.",
    )
    languages: list[str] = Field(
        default_factory=list, description="A third descriptor, when given (e.g. [English, French])."
    )
    seeds: list[str] = Field(
        default_factory=list,
        description="Seed requests for empty cells; none: a request naming the category.",
    )
    seed_file: Path | None = Field(
        default=None, description="A prompt file (any loader) whose prompts are seeds too."
    )
    iterations: int = Field(default=50, gt=0, description="Iterations at most.")
    max_target_calls: int | None = Field(
        default=None, gt=0, description="Target calls at most (one per iteration)."
    )
    judge: str = Field(default="strongreject", description="A registered judge.")
    judge_settings: dict[str, Any] = Field(default_factory=dict)
    apply_style: bool = Field(
        default=True,
        description="Apply a deterministic style's transform to the attacker's rewrite.",
    )
    chosen: bool = Field(
        default=True,
        description="Ask the aligned role for a safe answer to each successful elite (DPO pairs).",
    )
    max_tokens: int = Field(default=256, gt=0, description="The target's answer length.")
