"""The `sagert` loader: a run folder, stage file or export becomes source records again.

Kept from the run: the taxonomy path, format, persona, seed prompt, lineage and the meta that
says how a prompt was made; the original id is kept as `meta["origin_id"]`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from sagert.core.errors import UserError
from sagert.loaders.base import (
    LoaderOptions,
    columns,
    loaders,
    require_columns,
    rows,
    source_record,
)
from sagert.loaders.cells import text_field
from sagert.store.paths import PROMPT_STAGES, RunPaths
from sagert.store.records import LineageStep, Record, TaxonomyPath
from sagert.taxonomy import LEVELS

RUN_PROMPT_STAGES = PROMPT_STAGES
RUN_EXPORT_FILES = ("records.jsonl", "train.jsonl")
KEPT_RUN_META = ("attack", "evolution", "region", "language", "topic", "category_path", "benign")


@loaders.register("sagert", "A sagert run folder, stage file or export (train/records.jsonl).")
def load_sagert(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    path = run_prompt_file(path)
    cols = set(columns(path))
    if {"id", "stage"} <= cols:
        yield from _run_records(path, opts)
    else:
        require_columns(path, ("prompt",), "sagert")
        yield from _export_rows(path, opts)


def run_prompt_file(path: Path) -> Path:
    """A run folder's prompts: its last prompt stage (RUN_PROMPT_STAGES), else the export."""
    if not path.is_dir():
        return path
    paths = RunPaths(path)
    candidates = [
        *(paths.stage(name) for name in RUN_PROMPT_STAGES),
        *(paths.export_file(name) for name in RUN_EXPORT_FILES),
    ]
    for candidate in candidates:
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    raise UserError(
        "no prompts in this folder",
        file=path,
        fix="give a sagert run with stages/attack.jsonl (or evolve/extract), or a prompt file",
    )


def _run_records(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    for row in rows(path):
        try:
            record = Record.model_validate(row.data)
        except ValueError:
            raise UserError(
                "not a sagert record", file=path, field=row.where, fix="give a stage file"
            ) from None
        if record.status != "ok":
            continue
        if not record.prompt or not record.prompt.strip():
            raise UserError(
                f"a {record.stage!r} record has no prompt",
                file=path,
                field=row.where,
                fix="use a stage with prompts: attack, evolve or extract, or export/train.jsonl",
            )
        meta = {k: record.meta[k] for k in KEPT_RUN_META if k in record.meta}
        yield source_record(
            opts,
            record.id,
            record.prompt,
            taxonomy=record.taxonomy,
            benign=meta.get("benign"),
            format=record.format,
            persona=record.persona,
            seed_prompt=record.seed_prompt,
            lineage=record.lineage,
            meta={**meta, "origin_id": record.id},
        )


def _export_rows(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    for row in rows(path):
        prompt = text_field(row, "prompt", path)
        assert prompt is not None
        d = row.data
        taxonomy = TaxonomyPath(**{lvl: d.get(f"taxonomy_{lvl}") or None for lvl in LEVELS})
        meta = {k: d[k] for k in ("attack", "evolution", "region", "language", "topic") if d.get(k)}
        lineage: list[LineageStep] = []
        if isinstance(d.get("lineage"), str):
            try:
                lineage = [LineageStep.model_validate(s) for s in json.loads(d["lineage"])]
            except ValueError:
                lineage = []
        key = str(d["id"]) if d.get("id") else row.index
        yield source_record(
            opts,
            key,
            prompt,
            taxonomy=taxonomy,
            format=d.get("format") or None,
            persona=d.get("persona") or None,
            seed_prompt=d.get("seed_prompt") or None,
            lineage=lineage,
            meta={**meta, "origin_id": d.get("id")} if d.get("id") else meta,
        )
