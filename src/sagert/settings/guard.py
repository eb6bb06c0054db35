"""Guardrail settings: `sagert train --method guard` (`guard:`) and `sagert guard-loop`
(`guard_loop:`). Pydantic only: the config imports this without torch."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sagert.models.types import GenerateConfig
from sagert.settings.roles import RoleName

CANDIDATE_KINDS = ("harmful_complied", "harmful_refused", "benign_helpful", "benign_refused")
"""What a candidate request asks for; the teacher, not the kind, decides the labels."""


class GuardSettings(BaseModel):
    """A prompt and response classifier (safe/unsafe + the taxonomy's categories, multi-label)
    trained on a run's records: harmful prompts and rejected answers unsafe, benign prompts and
    chosen answers safe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_model: str = Field(
        default="embedded",
        description="embedded (the SmolLM2 GGUF as a folder), a local model folder or .gguf, or a"
        " Hub id (online); a sequence-classification head is added.",
    )
    output_dir: str | None = Field(default=None, description="Default: runs/<name>/train/guard")
    run: bool = Field(default=True, description="Train on this run's pairs and benign prompts.")
    run_share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="At most this share of the examples from the run's own records when files"
        " are given too (whole prompts sampled by seed): a weak model's records can swamp a"
        " good file; null: every record.",
    )
    examples: list[str] = Field(
        default_factory=list,
        description="More labelled files (.jsonl/.csv: prompt, response, label unsafe/safe,"
        " categories, language, split); rows whose split is heldout are never trained on.",
    )
    category_level: Literal["macro", "sub"] = Field(
        default="macro", description="Which level of the record's taxonomy path is the category."
    )
    validation_fraction: float = Field(
        default=0.2, ge=0.0, lt=1.0, description="Seed prompts kept for the threshold choice."
    )
    epochs: float = Field(default=2.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="Overrides epochs.")
    batch_size: int = Field(default=8, ge=1)
    learning_rate: float = Field(default=5e-5, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, le=1)
    max_length: int = Field(default=192, ge=16, description="Tokens of one classifier input.")
    prompt_chars: int = Field(default=600, ge=1, description="Characters of a prompt kept.")
    response_chars: int = Field(default=800, ge=1, description="Characters of a response kept.")
    train_layers: int | None = Field(
        default=4,
        ge=0,
        description="Transformer blocks trained, from the top (the rest frozen: minutes on a CPU);"
        " null: all; 0: the head only.",
    )
    save_steps: int = Field(default=200, ge=1)
    seed: int = 42
    restarts: int = Field(
        default=1,
        ge=1,
        le=20,
        description="Trainings with seeds seed, seed+1, ...; the best validation unsafe F1 is"
        " kept as final/ (a small encoder fine-tuned on a small set varies a lot by seed).",
    )
    device: str = Field(default="auto", description="auto (a GPU when present), cpu, cuda...")


class TeacherSettings(BaseModel):
    """A judge that labels the loop's candidates (any registered judge, or a panel)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    judge: str = Field(default="refusal_semantic", description="sagert list judges")
    settings: dict[str, Any] = Field(default_factory=dict)
    role: RoleName = Field(default="judge", description="The model role a model judge asks.")


class GuardLoopSettings(BaseModel):
    """`sagert guard-loop`: the generator writes (prompt, answer) pairs meant to fool the guard;
    the teacher labels them; what the guard gets wrong is added to its data; it is retrained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rounds: int = Field(default=2, ge=1, le=100)
    guard: str | None = Field(
        default=None,
        description="The round-0 guard's folder; null: trained first from this run (guard:).",
    )
    heldout: str | None = Field(
        default=None, description="A fixed labelled file (as guard.examples) scored each round."
    )
    teacher: TeacherSettings = Field(
        default_factory=TeacherSettings,
        description="Labels each answer; a refusal judge's complied is unsafe only when the"
        " prompt is (prompt_teacher).",
    )
    prompt_teacher: TeacherSettings | None = Field(
        default_factory=lambda: TeacherSettings(judge="harm_intent", role="generator"),
        description="Labels each prompt (a judge that classifies prompts); null: the teacher.",
    )
    categories: list[str] | None = Field(
        default=None, description="Categories asked for (default: the guard's own)."
    )
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    kinds: list[str] = Field(
        default_factory=lambda: ["harmful_complied", "harmful_refused", "benign_helpful"],
        min_length=1,
        description="What each request asks the generator for (templates/guard/candidates.j2).",
    )
    requests: int = Field(default=6, ge=1, description="Generator requests per round.")
    per_request: int = Field(default=4, ge=1, le=20, description="Pairs asked per request.")
    examples_shown: int = Field(
        default=3, ge=0, le=20, description="Earlier mistakes shown to the generator."
    )
    config: GenerateConfig = Field(
        default_factory=lambda: GenerateConfig(temperature=0.9, max_tokens=700),
        description="The generator's settings for the candidate requests.",
    )
    max_steps: int | None = Field(
        default=None, ge=1, description="Retraining steps per round (default: guard.epochs)."
    )
    repeat_mistakes: int = Field(
        default=2, ge=1, le=20, description="Copies of each mistake in the training data."
    )
    concurrency: int = Field(default=8, ge=1, le=1024)

    @model_validator(mode="after")
    def _known_kinds(self) -> GuardLoopSettings:
        unknown = [k for k in self.kinds if k not in CANDIDATE_KINDS]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}: use {', '.join(CANDIDATE_KINDS)}")
        return self
