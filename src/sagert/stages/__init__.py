"""Built-in stages; importing this package registers them."""

from sagert.stages import baseline, evaluation, expand, generation, judge_eval, pairs, respond

__all__ = ["baseline", "evaluation", "expand", "generation", "judge_eval", "pairs", "respond"]
