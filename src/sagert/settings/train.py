"""Training settings (pydantic only: the config imports this without torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sagert.models.types import GenerateConfig
from sagert.settings.recipes import (
    DPO_DEFAULTS,
    PRESETS,
    RECIPE_FIELDS,
    SIMPO_DEFAULTS,
    ResolvedRecipe,
    preset_names,
    resolve_recipe,
)

__all__ = ["DPO_DEFAULTS", "SIMPO_DEFAULTS", "AlignSettings", "LoraSettings", "TrainSettings"]


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class TrainSettings(BaseModel):
    """`sagert train`: DPO, or SimPO through TRL's CPO trainer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["dpo", "simpo"] = Field(
        default="simpo", description="Default: the preset's method, else simpo."
    )
    preset: str | None = Field(
        default=None,
        description="A named recipe (sage-simpo, small-simpo, small-dpo); unset: by model size.",
    )
    base_model: str = Field(
        default="embedded",
        description="embedded (the SmolLM2 GGUF), a local folder or .gguf, or a Hub id (online).",
    )
    output_dir: str | None = Field(default=None, description="Default: runs/<name>/train/<method>")
    epochs: float | None = Field(default=None, gt=0, description="Default: the recipe's.")
    max_steps: int | None = Field(default=None, ge=1, description="Overrides epochs.")
    batch_size: int = Field(default=2, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    learning_rate: float | None = Field(default=None, gt=0, description="Default: the recipe's.")
    beta: float | None = Field(default=None, gt=0, description="Default: the recipe's.")
    simpo_gamma: float | None = Field(default=None, ge=0, description="Default: the recipe's.")
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(default=0.1, ge=0, le=1)
    max_length: int | None = Field(default=None, ge=16, description="Default: the recipe's.")
    save_steps: int = Field(default=50, ge=1)
    heldout_fraction: float = Field(
        default=0.2, ge=0, lt=1, description="Prompts kept out of training, for evaluation."
    )
    lora: LoraSettings | None = None
    seed: int = 42

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; known: {', '.join(preset_names())}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _preset_method(cls, data: Any) -> Any:
        """A preset brings its method; an explicit other method is a contradiction."""
        if not isinstance(data, dict) or data.get("preset") not in PRESETS:
            return data
        wanted = PRESETS[data["preset"]].method
        if data.get("method") is None:
            return {**data, "method": wanted}
        if data["method"] != wanted:
            raise ValueError(
                f"preset {data['preset']!r} is a {wanted} recipe but method is "
                f"{data['method']!r}: drop one of them"
            )
        return data

    def recipe(self, parameters: int | None) -> ResolvedRecipe:
        """The values this training uses for a base model of `parameters` (None: unknown)."""
        explicit = {name: getattr(self, name) for name in RECIPE_FIELDS}
        return resolve_recipe(self.method, explicit, self.preset, parameters)


class AlignSettings(BaseModel):
    """`sagert align`: how the model before training and after it are evaluated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heldout: bool = Field(
        default=True, description="Evaluate on the generated prompts whose seed was held out."
    )
    heldout_limit: int | None = Field(default=None, ge=1, description="At most N of them.")
    config: GenerateConfig = Field(
        default_factory=lambda: GenerateConfig(temperature=0.0, max_tokens=128),
        description="Generation settings of both models (greedy: repeatable, batch-independent).",
    )
    max_batch_size: int = Field(default=16, ge=1, le=1024, description="Prompts per batch.")
    device: str = Field(default="auto", description="auto (a GPU when present), cpu, cuda...")
    engine: Literal["auto", "llamacpp", "transformers"] = Field(
        default="auto",
        description="auto: llama.cpp (both models as f16 GGUFs) when the model is a llama "
        "GGUF's, else transformers.",
    )
    rounds: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Training rounds: round 0 trains on the generated pairs; each further round "
        "on the current model's own unsafe answers to the training prompts (Egida), from the "
        "last round's weights, and is evaluated on the same held-out prompts.",
    )
    round_prompts: int | None = Field(
        default=None,
        ge=1,
        description="Training prompts the current model answers each round (a seeded sample, "
        "the same every round); default: all of them.",
    )
    redteam: bool = Field(
        default=False,
        description="Co-evolution: each round after the first also runs the config's redteam: "
        "archive against the current model; its successful attacks become pairs too.",
    )
    round_contrast: bool = Field(
        default=True,
        description="Each round after the first also trains on the run's validated contrast "
        "pairs at stages.contrast.share of the round's pairs (a different slice each round), "
        "so that rounds of refusal pairs alone do not teach the model to refuse everything.",
    )
