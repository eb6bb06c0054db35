"""Training settings (pydantic only: the config imports this without torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sagert.models.types import GenerateConfig

# The SAGE authors' SimPO recipe (TRL's CPO trainer, loss_type=simpo, cpo_alpha=0).
SIMPO_DEFAULTS = {"beta": 5.0, "learning_rate": 1.8e-6}
DPO_DEFAULTS = {"beta": 0.1, "learning_rate": 5e-7}


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class TrainSettings(BaseModel):
    """`sagert train`: DPO, or SimPO through TRL's CPO trainer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["dpo", "simpo"] = "simpo"
    base_model: str = Field(
        default="embedded",
        description="embedded (the SmolLM2 GGUF), a local folder or .gguf, or a Hub id (online).",
    )
    output_dir: str | None = Field(default=None, description="Default: runs/<name>/train/<method>")
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="Overrides epochs.")
    batch_size: int = Field(default=2, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    learning_rate: float | None = Field(default=None, gt=0, description="Default per method.")
    beta: float | None = Field(default=None, gt=0, description="Default per method.")
    simpo_gamma: float = Field(default=0.8, ge=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(default=0.1, ge=0, le=1)
    max_length: int = Field(default=256, ge=16)
    save_steps: int = Field(default=50, ge=1)
    heldout_fraction: float = Field(
        default=0.2, ge=0, lt=1, description="Prompts kept out of training, for evaluation."
    )
    lora: LoraSettings | None = None
    seed: int = 42

    def resolved_beta(self) -> float:
        defaults = SIMPO_DEFAULTS if self.method == "simpo" else DPO_DEFAULTS
        return self.beta if self.beta is not None else defaults["beta"]

    def resolved_learning_rate(self) -> float:
        defaults = SIMPO_DEFAULTS if self.method == "simpo" else DPO_DEFAULTS
        return self.learning_rate if self.learning_rate is not None else defaults["learning_rate"]


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
