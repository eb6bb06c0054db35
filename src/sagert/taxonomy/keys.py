"""Node keys: what a key may look like, and `slugify` to make one from an LLM-made name."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
MAX_KEY_LENGTH = 80


def slugify(text: str, taken: Iterable[str] = (), max_length: int = 64) -> str:
    """A key for an LLM-made name: ASCII, lower case, `_` between words, unique among `taken`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    slug = slug[:max_length].rstrip("_") or "node"
    used = set(taken)
    if slug not in used:
        return slug
    n = 2
    while f"{slug}_{n}" in used:
        n += 1
    return f"{slug}_{n}"


def _check_key(value: str) -> str:
    if not _KEY.match(value) or len(value) > MAX_KEY_LENGTH:
        raise ValueError(
            f"{value!r} is not a key: use letters, digits and _ . + - (at most "
            f"{MAX_KEY_LENGTH}), e.g. {slugify(value)!r}"
        )
    return value


def _check_text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Key = Annotated[str, AfterValidator(_check_key)]
NonEmpty = Annotated[str, AfterValidator(_check_text)]
KeyList = Annotated[list[NonEmpty], BeforeValidator(_listify)]
