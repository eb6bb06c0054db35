"""Prompt files in: JSONL, CSV or plain text, streamed, each row a source record."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from sagert.core.errors import UserError
from sagert.core.ids import stable_id
from sagert.store.records import Record

SOURCE_STAGE = "source"


def read_prompts(path: Path, column: str = "prompt") -> Iterator[Record]:
    """Rows in file order; ids from (row number, prompt), so a re-run resumes the same rows."""
    if not path.is_file():
        raise UserError("prompt file not found", file=path, fix="check the path")
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json"}:
        rows = _jsonl(path, column)
    elif suffix in {".csv", ".tsv"}:
        rows = _csv(path, column, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".txt":
        rows = (
            (i, line.rstrip("\n")) for i, line in enumerate(_text_lines(path), 1) if line.strip()
        )
    else:
        raise UserError(
            f"unsupported file type {suffix or '(none)'}",
            file=path,
            fix="use .jsonl, .csv, .tsv or .txt (one prompt per line)",
        )
    for row_no, prompt in rows:
        yield Record(
            id=stable_id(SOURCE_STAGE, row_no, prompt),
            stage=SOURCE_STAGE,
            prompt=prompt,
            meta={"source_row": row_no},
        )


def _text_lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8") as fh:
            yield from fh
    except UnicodeDecodeError:
        raise UserError("not UTF-8 text", file=path, fix="save the file as UTF-8") from None


def _jsonl(path: Path, column: str) -> Iterator[tuple[int, str]]:
    for line_no, line in enumerate(_text_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise UserError(
                "not a JSON object",
                file=path,
                field=f"line {line_no}",
                fix="one JSON object per line",
            ) from None
        yield line_no, _prompt_of(row, column, path, f"line {line_no}")


def _csv(path: Path, column: str, delimiter: str) -> Iterator[tuple[int, str]]:
    lines = _text_lines(path)
    reader = csv.DictReader(lines, delimiter=delimiter)
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise UserError(
            f"no {column!r} column (columns: {', '.join(reader.fieldnames or [])})",
            file=path,
            fix="rename the prompt column, or pass --column NAME",
        )
    for row_no, row in enumerate(reader, 2):
        yield row_no, _prompt_of(row, column, path, f"row {row_no}")


def _prompt_of(row: object, column: str, path: Path, where: str) -> str:
    if not isinstance(row, dict) or column not in row:
        raise UserError(
            f"no {column!r} field", file=path, field=where, fix="add it, or pass --column NAME"
        )
    value = row[column]
    if not isinstance(value, str) or not value.strip():
        raise UserError(
            f"{column!r} must be non-empty text", file=path, field=where, fix="give the prompt text"
        )
    return value
