"""Printing generated text to a terminal safely: it is hostile by design."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: str, limit: int | None = None) -> str:
    """No escape sequences, no bidi overrides; rich markup is not interpreted by our callers."""
    cleaned = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return cleaned
