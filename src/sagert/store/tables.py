"""Tables in: JSONL, CSV, TSV, TXT and Parquet rows, streamed, each with where it came from.

The one reader behind `respond`'s prompt files, every `evaluate` loader and `sagert stats`, so
a file reads the same everywhere and a bad row is one line naming the file, the row and the fix.
"""

from __future__ import annotations

import csv
import importlib
import json
import sys
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sagert.core.errors import UserError

FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "txt",
    ".parquet": "parquet",
}
"""Suffix -> format. A .json file is JSONL, or one JSON list of objects."""
TEXT_COLUMN = "text"
"""A .txt file's one column: every non-blank line is a row."""
COMMENT = "#"


@dataclass(frozen=True)
class Row:
    index: int
    """1-based data row (blank and comment lines not counted): part of record ids."""
    where: str
    """For error messages: "row 3 (line 4)" (CSV), "line 7" (JSONL, TXT), "item 2", "row 9"."""
    data: dict[str, Any]
    line: int | None = None
    """The line the row ends on, in text formats (None for Parquet and a JSON list)."""


def table_format(path: Path, suffixes: Collection[str] = FORMATS, fix: str | None = None) -> str:
    """The file's format; a missing file, a folder or another suffix is a UserError."""
    if not path.exists():
        raise UserError("prompt file not found", file=path, fix="check the path")
    if path.is_dir():
        raise UserError("a folder, not a table file", file=path, fix=fix or _use(suffixes))
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise UserError(
            f"unsupported file type {path.suffix or '(none)'}",
            file=path,
            fix=fix or _use(suffixes),
        )
    return FORMATS[suffix]


def _use(suffixes: Collection[str]) -> str:
    names = [s + (" (one prompt per line)" if s == ".txt" else "") for s in suffixes]
    return f"use {', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else f"use {names[0]}"


def columns(path: Path, *, comments: bool = False) -> list[str]:
    """The column names, reading no further than the header, schema or first JSON object."""
    fmt = table_format(path)
    if fmt == "parquet":
        with _parquet_file(path) as handle:
            return list(handle.schema_arrow.names)
    if fmt == "txt":
        return [TEXT_COLUMN]
    if fmt == "jsonl":
        return next((list(row.data) for row in _json_rows(path, comments)), [])
    try:
        with _text(path, newline="") as fh:
            _, header = next(_csv_records(path, fh, fmt, comments), (0, []))
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    return header


def rows(
    path: Path, *, comments: bool = False, select: Sequence[str] | None = None
) -> Iterator[Row]:
    """Every data row as a dict, streamed (a .json list is the one exception: read whole).

    `comments`: lines starting with `#` are skipped: in JSONL, and in CSV/TSV between rows
    (not inside a quoted cell). `select`: the columns a Parquet file reads (text formats
    parse whole rows anyway).
    """
    fmt = table_format(path)
    if fmt == "parquet":
        return _parquet_rows(path, select)
    if fmt == "txt":
        return _txt_rows(path)
    if fmt == "jsonl":
        return _json_rows(path, comments)
    return _csv_rows(path, fmt, comments)


def _text(path: Path, newline: str | None = None) -> TextIO:
    return path.open(encoding="utf-8-sig", newline=newline)


def _not_utf8(path: Path) -> UserError:
    return UserError("not UTF-8 text", file=path, fix="save the file as UTF-8")


# --- CSV and TSV ----------------------------------------------------------------------------


class _Lines:
    """A CSV file's lines for `csv.reader`, counted, with `#` lines dropped between rows.

    The reader pulls one line at a time and never reads ahead, so `row_start` (set by the
    caller after each row) tells a comment line from a line inside a quoted cell.
    """

    def __init__(self, fh: TextIO, comments: bool) -> None:
        self._fh = fh
        self._comments = comments
        self.line_no = 0
        self.row_start = True

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._fh)
        self.line_no += 1
        while self._comments and self.row_start and line.startswith(COMMENT):
            line = next(self._fh)
            self.line_no += 1
        self.row_start = False
        return line


def _csv_records(
    path: Path, fh: TextIO, fmt: str, comments: bool
) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records, header first, each with the line it ends on."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    lines = _Lines(fh, comments)
    reader = csv.reader(lines, delimiter="\t" if fmt == "tsv" else ",")
    try:
        for cells in reader:
            lines.row_start = True
            if cells:
                yield lines.line_no, cells
    except csv.Error as exc:
        raise UserError(f"not valid CSV: {exc}", file=path, fix="check the quoting") from None


def _csv_rows(path: Path, fmt: str, comments: bool) -> Iterator[Row]:
    """Rows as dicts by header (a short row's missing cells are None, as `csv.DictReader`)."""
    try:
        with _text(path, newline="") as fh:
            records = _csv_records(path, fh, fmt, comments)
            _, header = next(records, (0, []))
            for index, (line, cells) in enumerate(records, 1):
                where = f"row {index} (line {line})"
                if len(cells) > len(header):
                    raise UserError(
                        "more cells than header columns",
                        file=path,
                        field=where,
                        fix="quote cells that contain the delimiter",
                    )
                data: dict[str, Any] = dict.fromkeys(header)
                data.update(zip(header, cells, strict=False))
                yield Row(index, where, data, line)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


# --- JSONL, JSON and text -------------------------------------------------------------------


def _json_rows(path: Path, comments: bool = False) -> Iterator[Row]:
    try:
        with _text(path) as fh:
            first = fh.read(1)
            while first.isspace():
                first = fh.read(1)
            fh.seek(0)
            if first == "[":
                yield from _json_array(path, fh.read())
                return
            index = 0
            for line_no, line in enumerate(fh, 1):
                if not line.strip() or (comments and line.startswith(COMMENT)):
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    raise UserError(
                        "not a JSON object",
                        file=path,
                        field=f"line {line_no}",
                        fix="one JSON object per line (JSONL)",
                    )
                index += 1
                yield Row(index, f"line {line_no}", data, line_no)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def _json_array(path: Path, text: str) -> Iterator[Row]:
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise UserError(f"not valid JSON: {exc}", file=path, fix="a JSON list of objects") from None
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise UserError(
                "not a JSON object", file=path, field=f"item {index}", fix="a list of objects"
            )
        yield Row(index, f"item {index}", item)


def _txt_rows(path: Path) -> Iterator[Row]:
    try:
        with _text(path) as fh:
            index = 0
            for line_no, line in enumerate(fh, 1):
                if line.strip():
                    index += 1
                    yield Row(index, f"line {line_no}", {TEXT_COLUMN: line.rstrip("\n")}, line_no)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


# --- Parquet --------------------------------------------------------------------------------


def _parquet_file(path: Path) -> Any:
    try:
        pq = importlib.import_module("pyarrow.parquet")  # optional, untyped: loaded by name
    except ImportError:
        raise UserError(
            "reading Parquet needs pyarrow", file=path, fix="pip install 'sagert[hf]'"
        ) from None
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own error types
        raise _not_parquet(path, exc) from None


def _not_parquet(path: Path, exc: Exception) -> UserError:
    return UserError(f"not a Parquet file: {exc}", file=path, fix="check the file")


def _parquet_rows(path: Path, select: Sequence[str] | None) -> Iterator[Row]:
    with _parquet_file(path) as handle:
        batches = handle.iter_batches(batch_size=1024, columns=list(select) if select else None)
        index = 0
        while True:
            try:
                batch = next(batches, None)
            except Exception as exc:  # a damaged row group, or a column not in the file
                raise _not_parquet(path, exc) from None
            if batch is None:
                return
            for data in batch.to_pylist():
                index += 1
                yield Row(index, f"row {index}", data)
