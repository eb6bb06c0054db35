"""Prompt-set loaders (HarmBench, AdvBench, JailbreakBench, XSTest, ALERT, sagert runs, any
table); importing this package registers them."""

from sagert.loaders import benchmarks, generic, runs  # noqa: F401  (registers the loaders)
from sagert.loaders.base import loaders
from sagert.loaders.detect import default_source_name, detect_loader, load_prompts

__all__ = ["default_source_name", "detect_loader", "load_prompts", "loaders"]
