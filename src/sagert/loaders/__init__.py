"""Prompt-set loaders (HarmBench, AdvBench, JailbreakBench, XSTest, ALERT, sagert runs, any
table); importing this package registers them."""

from sagert.loaders.formats import detect_loader, load_prompts, loaders

__all__ = ["detect_loader", "load_prompts", "loaders"]
