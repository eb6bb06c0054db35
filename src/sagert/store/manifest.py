"""manifest.json as a typed model: what ran, with which settings, and what it cost."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sagert.models.budget import SpendReport


class ConfigVersion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str
    at: str


class StageEntry(BaseModel):
    """A stage's last summary (inputs, written, failed, calls...) with the spec it ran with.

    Extra keys are kept: a stage's summary may carry its own counters (dedup's `removed`).
    """

    model_config = ConfigDict(extra="allow")

    spec: dict[str, Any] = Field(default_factory=dict)
    inputs: int = 0
    skipped_done: int = 0
    written: int = 0
    failed: int = 0
    seconds: float = 0.0
    calls: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """This stage's model counters in its last run (0 calls when it resumed a finished run)."""
    calls_total: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """The same counters summed over every run of this stage in this folder: what it cost."""
    failure_reasons: dict[str, int] = Field(default_factory=dict)
    updated: str = ""


class EvaluationEntry(BaseModel):
    """The evaluate settings of the last evaluation, and a fingerprint per target name."""

    model_config = ConfigDict(extra="allow")

    settings: dict[str, Any] = Field(default_factory=dict)
    targets: dict[str, str] = Field(default_factory=dict)
    fingerprints: dict[str, str] = Field(default_factory=dict)
    judge: str = ""
    judge_model: str = ""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = ""
    sagert: str = ""
    python: str = ""
    platform: str = ""
    packages: dict[str, str] = Field(default_factory=dict)
    seed: int = 0
    created: str = ""
    updated: str = ""
    config_history: list[ConfigVersion] = Field(default_factory=list)
    models: dict[str, str] = Field(default_factory=dict)
    stages: dict[str, StageEntry] = Field(default_factory=dict)
    evaluate: EvaluationEntry | None = None
    spent: SpendReport | None = None
    """Calls, tokens and estimated cost over every invocation, for budgets."""
    yields: dict[str, Any] | None = None
    """What the run gave for what it cost (results/yields.py): pairs and prompts per 1,000
    generated tokens, the harmful-prompt rate of each gate."""

    def completion_tokens(self, stages: tuple[str, ...] | None = None) -> int:
        """Tokens generated (every role, every model) by the named stages (None: all), over
        every run of each stage (`calls_total`; `calls` for a manifest written before it)."""
        total = 0
        for name, entry in self.stages.items():
            if stages is None or name in stages:
                for stats in (entry.calls_total or entry.calls).values():
                    total += int(stats.get("completion_tokens", 0))
        return total

    def generator_calls(self, stages: tuple[str, ...]) -> int:
        """Generator calls (retries included) spent by the named stages."""
        total = 0
        for name, entry in self.stages.items():
            if name in stages:
                for stats in entry.calls.values():
                    if "generator" in stats.get("roles", []):
                        total += int(stats.get("calls", 0))
        return total
