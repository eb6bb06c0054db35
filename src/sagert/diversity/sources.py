"""What `sagert stats` reads: a run directory's stage file, or any prompt file.

Run directories give records with taxonomy, format, persona and attack style, and their
`taxonomy.yaml` gives the leaves that coverage counts against. Other files (JSONL, CSV, TSV,
TXT, Parquet) give prompts from one column, so other datasets can be measured the same way.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sagert.core.errors import UserError
from sagert.core.ids import stable_id
from sagert.store.jsonl import read_records
from sagert.store.paths import RunPaths
from sagert.store.prompts import SOURCE_STAGE, read_prompts
from sagert.store.records import Record
from sagert.taxonomy import Taxonomy

RUN_STAGES = ("attack", "dedup", "evolve", "extract", "baseline")
"""The prompt stages of a run, latest first: the default is the first one with records (a
baseline run has only its own stage)."""
RECORD_FIELDS = ("prompt", "seed_prompt")


@dataclass
class StatsSource:
    label: str
    records: Callable[[], Iterator[Record]]
    field: str = "prompt"
    expected_leaves: list[str] | None = None


def split_column(spec: str) -> tuple[Path, str | None]:
    """`PATH:COLUMN` -> (PATH, COLUMN) when PATH exists and the whole string does not."""
    path = Path(spec)
    if not path.exists() and ":" in spec:
        head, _, column = spec.rpartition(":")
        if head and column and Path(head).exists():
            return Path(head), column
    return path, None


def open_source(path: Path, *, column: str = "prompt", stage: str | None = None) -> StatsSource:
    if path.is_dir():
        return _run_source(path, stage)
    if not path.is_file():
        raise UserError("not found", file=path, fix="give a run directory or a prompt file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return StatsSource(path.name, lambda: _parquet_prompts(path, column))
    if suffix in {".jsonl", ".json"} and _holds_records(path):
        field = _record_field(path, column)
        return StatsSource(path.name, lambda: _record_file(path), field=field)
    next(read_prompts(path, column), None)  # a bad type or column fails now, before any work
    return StatsSource(f"{path.name} ({column})", lambda: read_prompts(path, column))


def _run_source(run_dir: Path, stage: str | None) -> StatsSource:
    paths = RunPaths(run_dir)
    if not paths.stages_dir.is_dir():
        raise UserError(
            "not a sagert run directory (no stages/ folder)",
            file=run_dir,
            fix="give runs/NAME, or a JSONL/CSV/Parquet file of prompts",
        )
    if stage is not None:
        if not paths.stage(stage).is_file():
            available = list(paths.stage_names())
            raise UserError(
                f"the run has no stage {stage!r}",
                file=run_dir,
                field="--stage",
                fix=f"use one of: {', '.join(available) or '(none yet)'}",
            )
    else:
        stage = next((name for name in RUN_STAGES if paths.has_records(name)), None)
        if stage is None:
            raise UserError(
                f"no prompt stage with records yet ({', '.join(RUN_STAGES)})",
                file=run_dir,
                fix="run sagert generate first, or pass --stage NAME",
            )
    path = paths.stage(stage)
    leaves = (
        ["/".join(keys) for keys, _ in Taxonomy.from_file(paths.taxonomy).leaves()]
        if paths.taxonomy.is_file()
        else None
    )

    def records() -> Iterator[Record]:
        return (r for r in _checked(path, read_records(path)) if r.status == "ok")

    return StatsSource(f"{run_dir.name} ({stage})", records, expected_leaves=leaves)


def _holds_records(path: Path) -> bool:
    """A JSONL whose first row has a record's id and stage: a sagert stage file or export."""
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    return isinstance(row, dict) and {"id", "stage"} <= row.keys()
    except (UnicodeDecodeError, ValueError):
        return False  # read_prompts says what is wrong
    return False


def _record_field(path: Path, column: str) -> str:
    if column in RECORD_FIELDS or column.startswith("meta."):
        return column
    raise UserError(
        f"{column!r} is not a record field",
        file=path,
        field="--column",
        fix="for sagert records use prompt, seed_prompt or meta.KEY",
    )


def _record_file(path: Path) -> Iterator[Record]:
    return (r for r in _checked(path, read_records(path)) if r.status == "ok")


def _checked(path: Path, records: Iterator[Record]) -> Iterator[Record]:
    done = 0
    try:
        for record in records:
            yield record
            done += 1
    except ValidationError:
        raise UserError(
            f"record {done + 1} is not a valid sagert record",
            file=path,
            fix="give a stage file of this sagert version, or use --column on a plain file",
        ) from None


def _parquet_prompts(path: Path, column: str) -> Iterator[Record]:
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
    if column not in names:
        raise UserError(
            f"no {column!r} column (columns: {', '.join(names)})",
            file=path,
            fix="pass --column NAME",
        )
    row = 0
    for batch in parquet.iter_batches(columns=[column], batch_size=8192):
        for value in batch.column(0).to_pylist():
            row += 1
            if not isinstance(value, str) or not value.strip():
                raise UserError(
                    f"{column!r} must be non-empty text",
                    file=path,
                    field=f"row {row}",
                    fix="drop or fill the empty rows",
                )
            yield Record(
                id=stable_id(SOURCE_STAGE, row, value),
                stage=SOURCE_STAGE,
                prompt=value,
                meta={"source_row": row},
            )
