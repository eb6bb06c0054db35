"""Built-in stages; importing this package registers them."""

from sagert.stages import baseline, evaluation, expand, generation, pairs, respond

__all__ = ["baseline", "evaluation", "expand", "generation", "pairs", "respond"]
