"""Built-in stages; importing this package registers them."""

from sagert.stages import (
    baseline,
    contrast,
    contrast_pairs,
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
    "contrast",
    "contrast_pairs",
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
