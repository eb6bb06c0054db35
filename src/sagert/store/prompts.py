"""Prompt files in: any table `store.tables` reads, streamed, each row a source record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sagert.core.errors import UserError
from sagert.core.ids import stable_id
from sagert.store.records import Record
from sagert.store.tables import TEXT_COLUMN, Row, columns, rows, table_format

SOURCE_STAGE = "source"
HEADED_FORMATS = ("csv", "tsv", "parquet")
"""Formats whose columns are known before the rows: a missing column fails at once."""


def read_prompts(path: Path, column: str = "prompt") -> Iterator[Record]:
    """Rows in file order; ids from (row number, prompt), so a re-run resumes the same rows.

    A .txt file is one prompt per line, whatever `column` says.
    """
    fmt = table_format(path)
    key = TEXT_COLUMN if fmt == "txt" else column
    if fmt in HEADED_FORMATS:
        found = columns(path)
        if key not in found:
            raise UserError(
                f"no {column!r} column (columns: {', '.join(found)})",
                file=path,
                fix="rename the prompt column, or pass --column NAME",
            )
    for row in rows(path, select=(key,)):
        prompt = _prompt_of(row, key, path)
        row_no = _source_row(fmt, row)
        yield Record(
            id=stable_id(SOURCE_STAGE, row_no, prompt),
            stage=SOURCE_STAGE,
            prompt=prompt,
            meta={"source_row": row_no},
        )


def _source_row(fmt: str, row: Row) -> int:
    """The row number in a record's id, counted as `respond` always has (resume keeps working):
    a JSONL or text row's line, a CSV data row + 1 (its line when no cell spans lines), else
    the row (Parquet, a JSON list)."""
    if fmt in {"csv", "tsv"}:
        return row.index + 1
    return row.line if row.line is not None else row.index


def _prompt_of(row: Row, column: str, path: Path) -> str:
    if column not in row.data:
        raise UserError(
            f"no {column!r} field", file=path, field=row.where, fix="add it, or pass --column NAME"
        )
    value = row.data[column]
    if not isinstance(value, str) or not value.strip():
        raise UserError(
            f"{column!r} must be non-empty text",
            file=path,
            field=row.where,
            fix="give the prompt text",
        )
    return value
