"""Reading one cell of a loader's row: prompt text, a yes/no, a category path."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.store.records import TaxonomyPath
from sagert.store.tables import Row
from sagert.taxonomy import LEVELS, load_taxonomy, slugify

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "safe", "benign"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "unsafe", "harmful"})


def text_field(row: Row, column: str, path: Path, *, required: bool = True) -> str | None:
    """A non-empty text cell; a conversation (list of messages) gives its last user turn."""
    value = row.data.get(column)
    if isinstance(value, list):
        users = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == "user"]
        value = users[-1] if users else None
    if value is None or (isinstance(value, str) and not value.strip()):
        if not required:
            return None
        missing = column not in row.data
        raise UserError(
            f"no {column!r} field" if missing else f"{column!r} is empty",
            file=path,
            field=row.where,
            fix="give the prompt text, or remove the row" if not missing else "add it",
        )
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise UserError(
            f"{column!r} must be text, not {type(value).__name__}",
            file=path,
            field=row.where,
            fix="give text",
        )
    return value


def parse_benign(value: Any, path: Path, where: str, column: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UserError(
        f"{column!r} value {value!r} is not a yes/no",
        file=path,
        field=where,
        fix="use true/false, 1/0, yes/no, safe/unsafe or benign/harmful",
    )


def category_path(value: str | None) -> TaxonomyPath:
    """'macro/sub/leaf' (or '>' between levels) fills the levels in order."""
    if not value or not str(value).strip():
        return TaxonomyPath()
    parts = [p.strip() for p in re.split(r"[/>]", str(value)) if p.strip()]
    return TaxonomyPath(**dict(zip(LEVELS, parts[: len(LEVELS)], strict=False)))


def builtin_category(taxonomy: str, value: str | None) -> TaxonomyPath:
    """A category by key, alias or display name in a built-in taxonomy; else the raw value."""
    if not value or not value.strip():
        return TaxonomyPath()
    index = _category_index(taxonomy)
    path = index.get(value.strip().casefold()) or index.get(slugify(value))
    if path is None:
        return TaxonomyPath(macro=value.strip())
    return TaxonomyPath(**dict(zip(LEVELS, path, strict=False)))


@cache
def _category_index(taxonomy: str) -> dict[str, tuple[str, ...]]:
    """Every name a node answers to (key, aliases, display name casefolded) -> its path."""
    index: dict[str, tuple[str, ...]] = {}
    for path, node in load_taxonomy(taxonomy).walk():
        for name in (*node.all_keys(), node.name.casefold()):
            index.setdefault(name, path)
    return index
