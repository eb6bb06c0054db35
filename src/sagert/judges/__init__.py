"""Judges: classify a prompt or a response as safe, unsafe, refused, or a judge error.

Importing this package registers the built-in judges: llamaguard3, harmbench, harm_intent,
harm_semantic, refusal, refusal_semantic, rubric, strongreject, xstest, guard (a trained guardrail
classifier), and panel (a judge made of the others).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sagert.judges import (
    guard,
    harm_intent,
    harm_semantic,
    harmbench,
    llamaguard,
    panel,
    refusal,
    refusal_semantic,
    rubric,
    strongreject,
    xstest,
)
from sagert.judges.base import Judge, judges


def make_judge(name: str, settings: dict[str, Any] | None = None) -> Judge:
    """The registered judge `name`, built with its settings (ConfigError when invalid)."""
    # Every judge class is built as `JudgeClass(settings)`; its own Settings validate them.
    factory: Callable[[dict[str, Any] | None], Judge] = judges.get(name)
    return factory(settings)


__all__ = [
    "guard",
    "harm_intent",
    "harm_semantic",
    "harmbench",
    "judges",
    "llamaguard",
    "make_judge",
    "panel",
    "refusal",
    "refusal_semantic",
    "rubric",
    "strongreject",
    "xstest",
]
