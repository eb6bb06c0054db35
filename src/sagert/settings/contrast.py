"""`stages.contrast`: benign prompts that look harmful, with helpful chosen answers and
unwarranted refusals as rejected ones, mixed into the training set at a share (over-refusal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sagert.settings.roles import RoleName

CONTRAST_STYLES: tuple[str, ...] = (
    "homonyms",
    "figurative_language",
    "safe_targets",
    "safe_contexts",
    "definitions",
    "nonsense_group_discrimination",
    "real_group_nonsense_discrimination",
    "historical_events",
    "privacy_public_figures",
    "privacy_fictional",
)
"""XSTest's kinds of safe prompt that look unsafe (Röttger et al. 2024), each a template
`contrast/<style>.j2` written for sagert: none of XSTest's prompts is in them."""

RejectedFrom = Literal["template", "aligned", "unaligned", "target"]


class ExcludeSource(BaseModel):
    """A prompt file no contrast prompt may equal or nearly equal (a test set: XSTest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    loader: str | None = Field(default=None, description="A registered loader; unset: detected.")
    column: str | None = Field(default=None, description="Prompt column (generic loader).")


class ContrastStage(BaseModel):
    """`contrast_prompts` and `contrast` share this section; `share: 0` turns both off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(
        default=0.0,
        ge=0.0,
        le=0.9,
        description="Contrast pairs' share of the exported training set (0: off).",
    )
    styles: list[str] = Field(default_factory=lambda: list(CONTRAST_STYLES), min_length=1)
    per_call: int = Field(default=5, ge=1, le=20, description="Prompts asked per generator call.")
    oversample: float = Field(
        default=1.5,
        ge=1.0,
        le=10.0,
        description="Candidate prompts made per contrast pair needed (some fail validation).",
    )
    top_up: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Rounds of extra candidates when fewer pairs than the share wants pass"
        " validation (each sized by the rate seen so far; 0: never).",
    )
    benign: bool = Field(
        default=True, description="Also use the prompt gate's benign prompts (stages/benign.jsonl)."
    )
    prompt_judge: str | None = Field(
        default=None,
        description="A prompt judge (harm_intent, llamaguard3...) that must find a generated"
        " prompt not harmful; unset: the prompt gate's judge (stages.gate.judge) when set.",
    )
    prompt_judge_settings: dict[str, Any] = Field(default_factory=dict)
    prompt_judge_role: RoleName = Field(
        default="judge", description="The role the prompt judge asks."
    )
    exclude: list[ExcludeSource] = Field(
        default_factory=list,
        description="Prompt files (XSTest...) no contrast prompt may equal or nearly equal.",
    )
    exclude_evaluate: bool = Field(
        default=True, description="Also exclude the prompts of evaluate.prompts (when present)."
    )
    exclude_threshold: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="MinHash word Jaccard at or above which a prompt counts as a near-duplicate.",
    )
    judge: str = Field(
        default="refusal",
        description="The refusal judge: chosen must not refuse, rejected must (refusal, xstest,"
        " refusal_semantic).",
    )
    judge_settings: dict[str, Any] = Field(default_factory=dict)
    n_samples: int = Field(
        default=2, ge=1, le=20, description="Chosen answers per prompt; the judges keep the best."
    )
    rejected_from: RejectedFrom = Field(
        default="template",
        description="template: a refusal from contrast/refusal.j2 (no call); a role: that model"
        " asked to be over-cautious (contrast/over_cautious_system.j2).",
    )
    attempts: int = Field(default=3, ge=1, le=10)
    concurrency: int = Field(default=64, ge=1, le=4096)

    @field_validator("styles")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in CONTRAST_STYLES and not s.startswith("custom:")]
        if unknown:
            raise ValueError(
                f"unknown contrast style {unknown[0]!r}: use {', '.join(CONTRAST_STYLES)}"
                " (or custom:NAME for your own template contrast/NAME.j2)"
            )
        return list(dict.fromkeys(value))
