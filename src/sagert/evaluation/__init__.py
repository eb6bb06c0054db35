"""Red-team evaluation: load benchmark prompts, attack them on the fly, let targets answer,
judge every answer, and measure attack success and over-refusal with Wilson intervals."""

from sagert.evaluation.loaders import detect_loader, load_prompts, loaders
from sagert.evaluation.metrics import wilson, write_outputs
from sagert.evaluation.settings import EvaluateSettings, PromptSource

__all__ = [
    "EvaluateSettings",
    "PromptSource",
    "detect_loader",
    "load_prompts",
    "loaders",
    "wilson",
    "write_outputs",
]
