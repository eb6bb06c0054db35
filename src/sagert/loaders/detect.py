"""Choosing a loader for a file or folder, and loading it: what `evaluate` calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sagert.core.errors import UserError
from sagert.loaders.base import LoaderOptions, columns, loaders, rows
from sagert.loaders.benchmarks import ALERT_WRAP
from sagert.loaders.runs import run_prompt_file
from sagert.store.records import Record
from sagert.taxonomy import slugify


def detect_loader(path: Path) -> str:
    """The loader for a file or folder, from its columns (and name where columns are generic)."""
    if path.is_dir():
        run_prompt_file(path)
        return "sagert"
    cols = set(columns(path))
    name = path.name.lower()
    if {"Behavior", "FunctionalCategory", "SemanticCategory"} <= cols:
        return "harmbench"
    if {"Goal", "Category"} <= cols:
        return "jailbreakbench"
    if "goal" in cols and ("target" in cols or "advbench" in name or "harmful_behav" in name):
        return "advbench"
    if {"prompt", "type", "label"} <= cols:
        return "xstest"
    if {"id", "stage", "prompt"} <= cols or {"prompt", "chosen", "rejected"} <= cols:
        return "sagert"
    if {"prompt", "category"} <= cols and ("alert" in name or _alert_wrapped(path)):
        return "alert"
    return "generic"


def _alert_wrapped(path: Path) -> bool:
    for row in rows(path):
        return ALERT_WRAP.match(str(row.data.get("prompt") or "")) is not None
    return False


def default_source_name(path: Path, loader: str) -> str:
    """Benchmarks are named after themselves; other files after their stem."""
    if loader not in {"generic", "sagert"}:
        return loader
    stem = path.name if path.is_dir() else path.stem
    return slugify(stem) or "prompts"


def load_prompts(
    path: Path,
    loader: str | None = None,
    *,
    name: str | None = None,
    column: str | None = None,
    category_column: str | None = None,
    benign_column: str | None = None,
    benign: bool | None = None,
) -> Iterator[Record]:
    """Source records from a file or run, with the named loader or the detected one."""
    if not path.exists():
        raise UserError("prompt file not found", file=path, fix="check the path")
    chosen = loader or detect_loader(path)
    function = loaders.get(chosen)
    opts = LoaderOptions(
        name=name or default_source_name(path, chosen),
        column=column,
        category_column=category_column,
        benign_column=benign_column,
        benign=benign,
    )
    return function(path, opts)
