"""transformers' TrainingArguments across its versions, and the versions a training ran with.

Both trainers (DPO/SimPO in training/trainer.py, the guard in training/guard.py) pass these, so
a rename in transformers is handled once. The versions go into each training's record: a
figure that cannot be reproduced later can at least be traced to its libraries.
"""

from __future__ import annotations

import inspect
from importlib import metadata
from typing import Any

LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate")


def _params() -> Any:
    import transformers

    return inspect.signature(transformers.TrainingArguments.__init__).parameters


def warmup_args(ratio: float) -> dict[str, float]:
    """transformers 5 takes a ratio as a float warmup_steps; older versions had warmup_ratio."""
    return {"warmup_ratio": ratio} if "warmup_ratio" in _params() else {"warmup_steps": ratio}


def by_length_args() -> dict[str, Any]:
    """Batches of like length (prompts are short, answers long): less padding to compute."""
    if "train_sampling_strategy" in _params():
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def library_versions() -> dict[str, str]:
    """The installed versions of the training libraries (absent ones left out)."""
    found: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
