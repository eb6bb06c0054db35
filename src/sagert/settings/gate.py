"""The prompt gate's section (`gate_extract`, `gate_evolve`, `gate_attack`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sagert.settings.panels import panel_shorthand
from sagert.settings.roles import RoleName


class GateStage(BaseModel):
    """The prompt gate (`gate_extract`, `gate_evolve`, `gate_attack` share this section): a
    prompt judge keeps the prompts that still ask for harm; the others go to benign.jsonl."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    judge: str | None = Field(
        default=None,
        description="A judge that classifies prompts (harm_intent, llamaguard3, rubric, a panel"
        " of them); unset: the gate is off and costs nothing.",
    )
    settings: dict[str, Any] = Field(default_factory=dict)
    role: RoleName = Field(default="judge", description="The model role the judge asks.")
    intent_judge: str | None = Field(
        default="harm_intent",
        description="For a rewritten prompt: does it still ask for what its seed asked?"
        " (a judge that reads the original; null: no intent check)",
    )
    intent_settings: dict[str, Any] = Field(default_factory=dict)
    intent_role: RoleName = Field(
        default="generator",
        description="The role the intent judge asks (a chat model; the judge role may be a"
        " classifier such as Llama Guard).",
    )
    revert_failed_evolution: bool = Field(
        default=True,
        description="gate_evolve: an evolved prompt that fails goes to benign.jsonl and the"
        " prompt it was evolved from goes on in its place (Evol-Instruct's elimination);"
        " false: neither goes on.",
    )
    concurrency: int = Field(default=64, ge=1, le=4096)
    on_error: Literal["fail", "keep"] = Field(
        default="fail",
        description="A judge error (no verdict): fail the prompt (a failed record, retried by"
        " --retry-failed), or keep it and pass it on unjudged (counted apart, never harmful or"
        " benign: for an optional judge, e.g. harm_semantic without sagert[embed]).",
    )

    @model_validator(mode="before")
    @classmethod
    def _panel(cls, data: Any) -> Any:
        """`{panel: [a, b], rule: any_unsafe}` is the `panel` judge with those members."""
        return panel_shorthand(data, "judge", "settings")
