"""Human-labelled rows (prompt, response, label, an optional group) from CSV, JSONL or Parquet.

One small reader on purpose: the shared table readers will replace it, and nothing else reads
these files. Rows stream in file order; a line that starts with `#` is a comment (in a CSV
before the header too, and in JSONL). Labels are handed on as written: their meaning is the
caller's.
"""

from __future__ import annotations

import csv
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError

SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
NO_GROUP = "-"


@dataclass(frozen=True)
class LabelledColumns:
    prompt: str = "prompt"
    response: str | None = "response"
    """None: the prompt alone is judged (prompt classification)."""
    label: str = "label"
    group: str | None = None

    def names(self) -> list[str]:
        return [c for c in (self.prompt, self.response, self.label, self.group) if c]


@dataclass(frozen=True)
class LabelledRow:
    row: int
    """The data row, from 1 (comments and the header not counted)."""
    where: str
    """How an error names the row: "row 3 (line 5)" in a CSV, "line 4" in JSONL."""
    prompt: str
    response: str | None
    label: Any
    group: str


def read_labelled(path: Path, columns: LabelledColumns) -> Iterator[LabelledRow]:
    """Every row, checked: a missing column or a blank prompt is one line naming the row."""
    if not path.is_file():
        raise UserError("labelled file not found", file=path, fix="check the path")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(
            f"unsupported file type {suffix or '(none)'}",
            file=path,
            fix=f"use {', '.join(SUFFIXES)}",
        )
    if suffix == ".parquet":
        raw = _parquet(path, columns)
    elif suffix == ".jsonl":
        raw = _jsonl(path)
    else:
        raw = _csv(path, columns, "\t" if suffix == ".tsv" else ",")
    for row, where, data in raw:
        yield _row(path, columns, row, where, data)


def _row(
    path: Path, columns: LabelledColumns, row: int, where: str, data: dict[str, Any]
) -> LabelledRow:
    def cell(column: str) -> Any:
        if column not in data:
            raise UserError(
                f"no {column!r} field", file=path, field=where, fix="add it, or name the column"
            )
        return data[column]

    def text(column: str, *, blank_ok: bool) -> str:
        value = cell(column)
        if not isinstance(value, str) or (not blank_ok and not value.strip()):
            raise UserError(
                "must be non-empty text" if not blank_ok else "must be text",
                file=path,
                field=f"{where}, column {column!r}",
                fix="fill the cell, or drop the row",
            )
        return value

    group = NO_GROUP
    if columns.group is not None:
        value = cell(columns.group)
        group = NO_GROUP if value is None or str(value).strip() == "" else str(value).strip()
    return LabelledRow(
        row=row,
        where=where,
        prompt=text(columns.prompt, blank_ok=False),
        response=text(columns.response, blank_ok=True) if columns.response else None,
        label=cell(columns.label),
        group=group,
    )


class _Lines:
    """A text file's lines without its `#` comments, remembering the last line's number."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as fh:
                for number, text in enumerate(fh, 1):
                    self.line = number
                    if not text.startswith("#"):
                        yield text
        except UnicodeDecodeError:
            raise UserError("not UTF-8 text", file=self.path, fix="save it as UTF-8") from None


def _csv(
    path: Path, columns: LabelledColumns, delimiter: str
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    lines = _Lines(path)
    reader = csv.DictReader(iter(lines), delimiter=delimiter)
    try:
        header = reader.fieldnames or []
        missing = [c for c in columns.names() if c not in header]
        if missing:
            raise UserError(
                f"no {missing[0]!r} column (columns: {', '.join(header) or 'none'})",
                file=path,
                fix="rename the column, or pass its name (--label-column ...)",
            )
        for row, data in enumerate(reader, 1):
            where = f"row {row} (line {lines.line})"
            if None in data:
                raise UserError(
                    "more cells than header columns",
                    file=path,
                    field=where,
                    fix="quote cells that contain the delimiter",
                )
            yield row, where, dict(data)
    except csv.Error as exc:
        raise UserError(f"not valid CSV: {exc}", file=path, fix="check the quoting") from None


def _jsonl(path: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    row = 0
    lines = _Lines(path)
    for text in lines:
        if not text.strip():
            continue
        where = f"line {lines.line}"
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UserError("not a JSON object", file=path, field=where, fix="one per line")
        row += 1
        yield row, where, data


def _parquet(path: Path, columns: LabelledColumns) -> Iterator[tuple[int, str, dict[str, Any]]]:
    try:
        pq: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise UserError(
            "reading Parquet needs pyarrow", file=path, fix="pip install 'sagert[hf]'"
        ) from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid for a bad file
        raise UserError(f"not a readable Parquet file ({exc})", file=path) from None
    names = list(parquet.schema_arrow.names)
    wanted = columns.names()
    missing = [c for c in wanted if c not in names]
    if missing:
        raise UserError(
            f"no {missing[0]!r} column (columns: {', '.join(names)})",
            file=path,
            fix="pass its name (--label-column ...)",
        )
    row = 0
    for batch in parquet.iter_batches(columns=wanted, batch_size=8192):
        for data in batch.to_pylist():
            row += 1
            yield row, f"row {row}", data
