"""Progress reporting as a plain callable, so workflows run with a bar or without one."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int | None], AbstractContextManager[Advance]]
"""(label, total) -> a context manager yielding `advance(n)`: a progress bar, or nothing."""


def no_progress(label: str, total: int | None) -> AbstractContextManager[Advance]:
    return nullcontext(lambda n: None)
