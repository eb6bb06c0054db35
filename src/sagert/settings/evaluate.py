"""`evaluate:` settings: prompt sources, targets, attacks, the judge."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sagert.models.spec import ModelSpec
from sagert.settings.panels import panel_shorthand

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class PromptSource(BaseModel):
    """One prompt file or run: which loader reads it, and how its columns map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="A CSV/JSONL/Parquet file, or a sagert run folder.")
    loader: str | None = Field(
        default=None, description="A registered loader; unset: detected from the name/columns."
    )
    name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Source name in ids and reports (default: the loader, or the file stem).",
    )
    column: str | None = Field(default=None, description="Prompt column (generic loader).")
    category_column: str | None = Field(
        default=None, description="Category column; 'macro/sub/leaf' values fill the levels."
    )
    benign_column: str | None = Field(
        default=None, description="Column saying whether a prompt is benign (true/false, safe...)."
    )
    benign: bool | None = Field(
        default=None, description="Mark every prompt of this source benign (true) or harmful."
    )
    limit: int | None = Field(default=None, ge=1, description="First N prompts only.")
    sample: int | None = Field(
        default=None, ge=1, description="A seeded random N prompts (file order kept)."
    )


class EvaluateSettings(BaseModel):
    """Prompts x attacks x targets x samples, each answer judged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompts: list[PromptSource] = Field(
        default_factory=list, description="Prompt files or runs; `-i FILE` adds or replaces them."
    )
    targets: dict[str, ModelSpec | None] = Field(
        default_factory=lambda: dict[str, ModelSpec | None]({"target": None}),
        description="A list of role names, or {name: model spec} (null: the role of that name).",
    )
    attacks: list[str] = Field(
        default_factory=lambda: ["none"],
        min_length=1,
        description="Attack styles applied on the fly; 'a+b' chains styles; 'none' sends as is.",
    )
    language: str | None = Field(default=None, description="For the translation style.")
    jailbreak_templates: Path | None = Field(
        default=None, description="Templates for the jailbreak_template style."
    )
    n_samples: int = Field(default=1, ge=1, le=100, description="Answers per prompt and target.")
    judge: str = Field(default="refusal", description="A registered judge: sagert list judges.")
    judge_settings: dict[str, Any] = Field(default_factory=dict)
    over_refusal_judge: str = Field(
        default="refusal",
        description="The refusal detector behind over-refusal on benign prompts: refusal"
        " (markers, no model), xstest (the judge model; partial refusals counted apart), or"
        " another refusal judge such as refusal_semantic.",
    )
    over_refusal_judge_settings: dict[str, Any] = Field(default_factory=dict)
    back_translate: bool = Field(
        default=True,
        description="A judge that reads only English (refusal, llamaguard3, harmbench...) gets"
        " the English translation (translator role, cached) of a prompt or answer detected in"
        " another language, and its score says so (translated_from); false: judged as given.",
    )
    judge_calibration: Path | None = Field(
        default=None,
        description="A `sagert judge-eval --json` file of this judge: ASR is also reported"
        " corrected for its sensitivity and specificity (Rogan-Gladen).",
    )
    limit: int | None = Field(
        default=None, ge=1, description="Max prompts per source (a source's own limit wins)."
    )
    concurrency: int = Field(default=64, ge=1, le=4096, description="Records in flight.")

    @model_validator(mode="before")
    @classmethod
    def _panel(cls, data: Any) -> Any:
        """`judge: {panel: [a, b, c], rule: majority}`: the panel judge with those members."""
        if isinstance(data, dict) and isinstance(data.get("judge"), dict):
            data = dict(data)
            judge = panel_shorthand(data.pop("judge"), "judge", "judge_settings")
            data.update(judge)
        return data

    @field_validator("prompts")
    @classmethod
    def _some_prompts(cls, value: list[PromptSource]) -> list[PromptSource]:
        """An empty list given is a mistake; left out, `--prompts FILE` supplies them."""
        if not value:
            raise ValueError("give at least one prompt source, or leave prompts out")
        return value

    @field_validator("targets", mode="before")
    @classmethod
    def _list_of_roles(cls, value: Any) -> Any:
        """A plain list names roles: `[target, aligned]` is `{target: null, aligned: null}`."""
        if isinstance(value, list):
            if len(set(map(str, value))) != len(value):
                raise ValueError("a target is listed twice")
            return {str(name): None for name in value}
        return value

    @field_validator("targets")
    @classmethod
    def _names(cls, value: dict[str, ModelSpec | None]) -> dict[str, ModelSpec | None]:
        if not value:
            raise ValueError("give at least one target")
        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"target name {name!r}: use letters, digits, '_', '.', '-'")
        return value

    @field_validator("attacks")
    @classmethod
    def _attacks(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an attack is listed twice")
        for attack in value:
            if not attack.strip() or any(not part for part in attack.split("+")):
                raise ValueError(f"attack {attack!r}: give style names joined by '+'")
        return value

    @model_validator(mode="after")
    def _unique_source_names(self) -> EvaluateSettings:
        names = [s.name for s in self.prompts if s.name]
        if len(set(names)) != len(names):
            raise ValueError("two prompt sources have the same name; give each its own")
        return self

    def source_limit(self, source: PromptSource) -> int | None:
        return source.limit if source.limit is not None else self.limit
