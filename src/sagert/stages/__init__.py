"""Built-in stages; importing this package registers them."""

from sagert.stages import (
    baseline,
    dedup,
    evaluation,
    expand,
    gate,
    generation,
    iterative,
    judge_eval,
    pairs,
    respond,
    sample,
    translate,
)

__all__ = [
    "baseline",
    "dedup",
    "evaluation",
    "expand",
    "gate",
    "generation",
    "iterative",
    "judge_eval",
    "pairs",
    "respond",
    "sample",
    "translate",
]
