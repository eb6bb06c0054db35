"""What `sagert stats` reads: a run directory's stage file, or any prompt file.

Run directories give records with taxonomy, format, persona and attack style, and their
`taxonomy.yaml` gives the leaves that coverage counts against. Other files (JSONL, CSV, TSV,
TXT, Parquet) give prompts from one column, so other datasets can be measured the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from sagert.core.errors import UserError
from sagert.store.jsonl import read_records
from sagert.store.paths import PROMPT_STAGES, RunPaths
from sagert.store.prompts import read_prompts
from sagert.store.records import Record
from sagert.store.tables import columns
from sagert.taxonomy import Taxonomy

RUN_STAGES = (*PROMPT_STAGES, "baseline")
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
    if path.suffix.lower() in {".jsonl", ".json"} and _holds_records(path):
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
    return {"id", "stage"} <= set(columns(path))


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
