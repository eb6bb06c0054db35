"""The run config: one YAML, every section, into a strict pydantic RunConfig.

Every command that takes a config reads it here, so a file one command accepts, all accept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from sagert.core.validation import validate
from sagert.models.spec import Budget, ModelSpec
from sagert.settings.evaluate import EvaluateSettings
from sagert.settings.executor import ExecutorSettings
from sagert.settings.guard import GuardLoopSettings, GuardSettings
from sagert.settings.redteam import RedteamSettings
from sagert.settings.roles import ROLES, RoleName
from sagert.settings.stages import GENERATION_PIPELINE, ExportSettings, StagesConfig
from sagert.settings.train import AlignSettings, TrainSettings
from sagert.settings.yaml_file import read_yaml_mapping

__all__ = ["EMBEDDED_MODEL", "ROLES", "ModelsConfig", "RoleName", "RunConfig", "load_config"]

EMBEDDED_MODEL = "llamacpp/smollm2"


class ModelsConfig(BaseModel):
    """A model per role; a role left out uses the generator's model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generator: ModelSpec = Field(default_factory=lambda: ModelSpec(model=EMBEDDED_MODEL))
    aligned: ModelSpec | None = None
    unaligned: ModelSpec | None = None
    target: ModelSpec | None = None
    judge: ModelSpec | None = None
    attacker: ModelSpec | None = None
    translator: ModelSpec | None = None

    def for_role(self, role: RoleName) -> ModelSpec:
        spec: ModelSpec | None = getattr(self, role)
        return spec if spec is not None else self.generator

    def configured(self, role: RoleName) -> bool:
        return getattr(self, role) is not None


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="Run name: the folder under runs_dir.",
    )
    seed: int = 0
    runs_dir: Path = Field(default=Path("runs"), description="Relative to the working directory.")
    cache: bool = Field(default=True, description="Keep model answers in the run's SQLite cache.")
    templates_dir: Path | None = Field(
        default=None, description="A folder whose templates override the built-in ones."
    )
    taxonomy: str = Field(
        default="alert", description="A built-in taxonomy name or a path to a taxonomy YAML."
    )
    domain: str | None = Field(
        default=None,
        description="Deployment setting that steers expansion and prompts (e.g. healthcare).",
    )
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    pipeline: list[str] = Field(
        default_factory=lambda: list(GENERATION_PIPELINE),
        min_length=1,
        description="`sagert generate`'s stages in order (registered names; plugins too).",
    )
    stages: StagesConfig = Field(default_factory=StagesConfig)
    export: ExportSettings = Field(default_factory=ExportSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    align: AlignSettings = Field(default_factory=AlignSettings)
    evaluate: EvaluateSettings | None = Field(
        default=None, description="`sagert evaluate`: prompts x attacks x targets, judged."
    )
    executor: ExecutorSettings | None = Field(
        default=None,
        description="Where record stages run: local (this process, default) or ray (a cluster).",
    )
    budget: Budget | None = Field(
        default=None,
        description="The most the run may spend (calls, tokens, cost_usd), over all its runs.",
    )
    redteam: RedteamSettings | None = Field(
        default=None, description="`sagert redteam`: a MAP-Elites archive of attacks."
    )
    guard: GuardSettings = Field(
        default_factory=GuardSettings,
        description="`sagert train --method guard`: a guardrail classifier on the run's records.",
    )
    guard_loop: GuardLoopSettings | None = Field(
        default=None, description="`sagert guard-loop`: the generator hunts the guard's mistakes."
    )

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / self.name

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            self.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True
        )


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate; every problem is a ConfigError naming the file and field."""
    path = Path(path)
    data = read_yaml_mapping(path, missing_fix=f"check the path, or create one: sagert init {path}")
    data.update(overrides or {})
    return validate(RunConfig, data, file=str(path))
