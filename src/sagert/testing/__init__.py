"""Test helpers: an OpenAI-compatible HTTP server with latency and injected faults.

The names are loaded lazily so that ``python -m sagert.testing.openai_server`` does not import
the module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sagert.testing.openai_server import (
        FAULTS,
        OpenAITestServer,
        ServerStats,
        ServerThread,
    )

__all__ = ["FAULTS", "OpenAITestServer", "ServerStats", "ServerThread"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("sagert.testing.openai_server"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
