"""The Transform contract shared by attack styles and query-evolution operators.

A transform turns one prompt into another. Deterministic ones (base64, leetspeak, prefix
injection...) need nothing but the text and a seeded RNG; LLM-driven ones (role-play,
translation, deepen...) call the generator role through `ctx.generate`. Each application is
recorded on the record's lineage: name, arguments, text before and after (PyRIT's converters).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from sagert.core.registry import Registry
from sagert.core.templates import Templates
from sagert.models.types import Generator
from sagert.store.records import LineageStep, Record

TransformKind = Literal["attack", "evolution"]


class TransformError(Exception):
    """A transform that could not produce text (e.g. the model refused or answered garbage)."""

    def __init__(self, reason: str, raw: list[str] | None = None, attempts: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw or []
        self.attempts = attempts


@dataclass
class TransformContext:
    """Passed to every transform: seeded RNG, templates, and the model for LLM-driven ones."""

    rng: random.Random
    templates: Templates
    model: Generator | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    """Per-run options, e.g. {"jailbreak_templates": "path.json", "language": "French"}."""

    def require_model(self, name: str) -> Generator:
        if self.model is None:
            raise TransformError(f"{name} is LLM-driven and no generator model was given")
        return self.model


def transform_options(jailbreak_templates: object | None, language: str | None) -> dict[str, Any]:
    """The per-run options attack styles read (`TransformContext.options`) from stage settings."""
    options: dict[str, Any] = {}
    if jailbreak_templates is not None:
        options["jailbreak_templates"] = str(jailbreak_templates)
    if language:
        options["language"] = language
    return options


@dataclass
class TransformResult:
    text: str
    args: dict[str, Any] = field(default_factory=dict)
    """What was chosen (language, template index, split points...): kept in the lineage."""


class Transform(Protocol):
    name: ClassVar[str]
    kind: ClassVar[TransformKind]
    deterministic: ClassVar[bool]
    description: ClassVar[str]

    async def apply(self, text: str, ctx: TransformContext) -> TransformResult: ...


attacks: Registry[type[Transform]] = Registry("attack style")
operators: Registry[type[Transform]] = Registry("evolution operator")


def registry_for(kind: TransformKind) -> Registry[type[Transform]]:
    return attacks if kind == "attack" else operators


async def apply_chain(
    record: Record, names: list[str], kind: TransformKind, ctx: TransformContext
) -> tuple[str, list[LineageStep]]:
    """Apply transforms in order to the record's prompt; returns the text and the new steps."""
    registry = registry_for(kind)
    text = record.prompt or ""
    steps: list[LineageStep] = []
    for name in names:
        transform = registry.get(name)()
        result = await transform.apply(text, ctx)
        steps.append(
            LineageStep(name=f"{kind}:{name}", args=result.args, before=text, after=result.text)
        )
        text = result.text
    return text, steps
