"""The `generic` loader: any table with a prompt column, named by the column options."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sagert.core.errors import UserError
from sagert.loaders.base import LoaderOptions, columns, loaders, rows, source_record
from sagert.loaders.cells import category_path, parse_benign, text_field
from sagert.store.records import Record


@loaders.register("generic", "Any CSV/TSV/JSONL/Parquet with a prompt column (column options).")
def load_generic(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    column = opts.column or "prompt"
    needed = tuple(c for c in (column, opts.category_column, opts.benign_column) if c)
    found = columns(path)
    missing = [c for c in needed if c not in found]
    if missing:
        option = "column" if missing[0] == column else "category_column/benign_column"
        raise UserError(
            f"no {missing[0]!r} column (columns: {', '.join(found)})",
            file=path,
            fix=f"rename it, or set {option} (--column) to one of the columns",
        )
    for row in rows(path):
        prompt = text_field(row, column, path)
        assert prompt is not None
        benign = None
        if opts.benign_column:
            benign = parse_benign(
                row.data.get(opts.benign_column), path, row.where, opts.benign_column
            )
        category = row.data.get(opts.category_column) if opts.category_column else None
        yield source_record(
            opts,
            row.index,
            prompt,
            taxonomy=category_path(str(category) if category is not None else None),
            benign=benign,
        )
