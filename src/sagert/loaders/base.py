"""The loader registry and what every loader shares: its options, its files, its records.

Every loader yields Records with a stable id (source name, row, prompt), the prompt, the
taxonomy path when the source has categories, `meta["benign"]` when the source says, and
`meta["source"]`. A bad file is a UserError naming the file, the row or field, and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.core.ids import stable_id
from sagert.core.registry import Registry
from sagert.store import tables
from sagert.store.records import LineageStep, Record, TaxonomyPath
from sagert.store.tables import Row

SOURCE_STAGE = "source"
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
"""What loaders read (not .txt: a benchmark file has columns)."""


@dataclass(frozen=True)
class LoaderOptions:
    """How a source maps onto records (what `PromptSource` carries, minus path and limits)."""

    name: str
    column: str | None = None
    category_column: str | None = None
    benign_column: str | None = None
    benign: bool | None = None


Loader = Callable[[Path, LoaderOptions], Iterator[Record]]
loaders: Registry[Loader] = Registry("loader")


def _check_file(path: Path) -> None:
    tables.table_format(
        path,
        TABLE_SUFFIXES,
        fix="use .csv, .tsv, .jsonl, .json or .parquet, or a sagert run folder",
    )


def columns(path: Path) -> list[str]:
    """A loader file's column names (JSONL: the first object's keys), without reading it all."""
    _check_file(path)
    return tables.columns(path)


def rows(path: Path) -> Iterator[Row]:
    """A loader file's data rows, streamed, from the store's one table reader."""
    _check_file(path)
    return tables.rows(path)


def require_columns(path: Path, needed: tuple[str, ...], loader: str) -> None:
    found = columns(path)
    missing = [c for c in needed if c not in found]
    if missing:
        raise UserError(
            f"no {missing[0]!r} column for the {loader} loader (columns: {', '.join(found)})",
            file=path,
            fix="check the file, or pass --loader NAME / set the column options",
        )


def source_record(
    opts: LoaderOptions,
    key: int | str,
    prompt: str,
    *,
    taxonomy: TaxonomyPath | None = None,
    benign: bool | None = None,
    format: str | None = None,
    meta: dict[str, Any] | None = None,
    seed_prompt: str | None = None,
    persona: str | None = None,
    lineage: list[LineageStep] | None = None,
) -> Record:
    """The one shape every loader yields; `opts.benign` overrides what the file says."""
    data: dict[str, Any] = {"source": opts.name, "row": key, **(meta or {})}
    data.pop("benign", None)
    flag = opts.benign if opts.benign is not None else benign
    if flag is not None:
        data["benign"] = flag
    return Record(
        id=stable_id(opts.name, key, prompt),
        stage=SOURCE_STAGE,
        prompt=prompt,
        seed_prompt=seed_prompt or prompt,
        taxonomy=taxonomy or TaxonomyPath(),
        format=format,
        persona=persona,
        lineage=lineage or [],
        meta=data,
    )
