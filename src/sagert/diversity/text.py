"""What "the same words" means, shared by dedup and the metrics (standard library only)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from sagert.store.records import Record

_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")
_PUNCTUATION = re.compile(r"[^\w\s]|_")


def normalize(text: str) -> str:
    """Case-folded, punctuation stripped, whitespace collapsed: what "the same prompt" means.

    Apostrophes are dropped (don't = dont); other punctuation splits words (well-known = well
    known), so a hyphen or a comma added between words changes nothing.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _APOSTROPHES.sub("", text)
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def shingles(words: Sequence[str], n: int) -> set[bytes]:
    """Word n-grams as bytes; a text shorter than n words is one shingle."""
    if not words:
        return set()
    if len(words) <= n:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i : i + n]).encode("utf-8") for i in range(len(words) - n + 1)}


def field_text(record: Record, field: str) -> str | None:
    """The compared text: `prompt`, `seed_prompt` or `meta.<key>`; None when absent or empty."""
    if field.startswith("meta."):
        value: Any = record.meta.get(field[5:])
    else:
        value = getattr(record, field, None)
    return value if isinstance(value, str) and value.strip() else None
