"""Human-labelled rows (prompt, response, label, an optional group) from CSV, JSONL or Parquet.

Read through the one table reader (`store.tables`) with `#` comment lines skipped; this module
only checks the cells judge-eval needs. Labels are handed on as written: their meaning is the
caller's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.store.tables import columns as table_columns
from sagert.store.tables import rows, table_format

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
    table_format(path, SUFFIXES)
    found = table_columns(path, comments=True)
    missing = [c for c in columns.names() if c not in found]
    if missing:
        raise UserError(
            f"no {missing[0]!r} column (columns: {', '.join(found) or 'none'})",
            file=path,
            fix="rename the column, or pass its name (--label-column ...)",
        )
    for row in rows(path, comments=True, select=columns.names()):
        yield _row(path, columns, row.index, row.where, row.data)


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
