"""The dedup step of a run: kept records to `stages/dedup.jsonl`, removed ones beside it.

Unlike a record stage it cannot resume record by record: whether a prompt is a duplicate depends
on every prompt before it, and the index that knows them lives only in memory. So the step is
all or nothing: `stages/dedup.done` is written (atomically, after both files are synced) when
it finishes; a later run with the same settings and the same inputs reuses the output, and
anything else (no marker: an interrupted run; other settings; inputs added upstream) redoes it
from scratch. It makes no model calls, so a redo costs seconds per 100,000 prompts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from sagert.core.ids import stable_id
from sagert.diversity.embeddings import Encoder
from sagert.diversity.text import field_text
from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory
from sagert.engine.stage import stages
from sagert.engine.summary import StageSummary
from sagert.settings.dedup import DedupSettings
from sagert.store.jsonl import StageFile, read_records
from sagert.store.records import Record
from sagert.store.run import RunStore, write_atomic

if TYPE_CHECKING:
    from sagert.diversity.dedup import DuplicateOf

log = logging.getLogger(__name__)

DEDUP_STAGE = "dedup"


@dataclass
class DedupSummary(StageSummary):
    kept: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    """Removed records by method (exact, minhash, embedding)."""
    reused: bool = False
    """True when a finished dedup with the same settings and inputs was reused."""


@dataclass(frozen=True)
class DedupPaths:
    kept: Path
    removed: Path
    done: Path
    spool: Path

    @classmethod
    def of(cls, store: RunStore) -> DedupPaths:
        paths = store.paths
        return cls(
            kept=paths.stage(DEDUP_STAGE),
            removed=paths.stage_side(DEDUP_STAGE, "removed.jsonl"),
            done=paths.stage_side(DEDUP_STAGE, "done"),
            spool=paths.stage_spool(DEDUP_STAGE),
        )


def kept_id(input_id: str) -> str:
    """The id in dedup.jsonl of the record made from input `input_id` (Record.child's rule)."""
    return stable_id(input_id, DEDUP_STAGE, None)


class _Fingerprint:
    """Count and hash of the input ids in order: tells whether the inputs changed."""

    def __init__(self) -> None:
        self.count = 0
        self._hash = hashlib.sha256()

    def add(self, record: Record) -> None:
        self.count += 1
        self._hash.update(record.id.encode("utf-8") + b"\n")

    def digest(self) -> str:
        return self._hash.hexdigest()


async def run_dedup(
    ctx: RunContext,
    inputs: Iterable[Record],
    settings: DedupSettings,
    *,
    on_progress: Callable[[int], None] | None = None,
    encoder: Encoder | None = None,
) -> DedupSummary:
    """Dedup `inputs` (the ok records of the previous stage, in order) into the run.

    `inputs` is read once; when a finished dedup exists it is read to check it is unchanged,
    and if it changed it is read again (a one-shot iterator is spooled to disk for that).
    Runs in a worker thread: it is CPU work, and the event loop stays responsive.
    """
    return await asyncio.to_thread(
        _run_dedup, ctx.store, inputs, settings, on_progress or (lambda n: None), encoder
    )


def _run_dedup(
    store: RunStore,
    inputs: Iterable[Record],
    settings: DedupSettings,
    on_progress: Callable[[int], None],
    encoder: Encoder | None,
) -> DedupSummary:
    started = time.perf_counter()
    paths = DedupPaths.of(store)
    spec = settings.model_dump(mode="json")
    marker = _read_marker(paths)
    source: Iterable[Record] = inputs
    if marker is not None and marker.get("spec") == spec:
        fingerprint, source = _check_inputs(inputs, paths)
        if (fingerprint.count, fingerprint.digest()) == (marker["inputs"], marker["sha256"]):
            paths.spool.unlink(missing_ok=True)
            summary = _reused_summary(marker, fingerprint.count, time.perf_counter() - started)
            store.record_stage(DEDUP_STAGE, spec, summary.as_dict())
            return summary
        log.info("dedup: the inputs changed since dedup finished; redoing it")
    elif marker is not None:
        log.info("dedup: the settings changed since dedup finished; redoing it")
    elif paths.kept.exists() or paths.removed.exists():
        log.info("dedup: an earlier dedup did not finish; redoing it from scratch")
    try:
        summary, fingerprint = _dedup_into(paths, source, settings, on_progress, encoder)
    finally:
        paths.spool.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - started
    summary_dict = summary.as_dict()
    marker = {
        "spec": spec,
        "inputs": fingerprint.count,
        "sha256": fingerprint.digest(),
        "summary": summary_dict,
    }
    write_atomic(paths.done, json.dumps(marker, indent=2) + "\n")
    store.record_stage(DEDUP_STAGE, spec, summary_dict)
    return summary


def _read_marker(paths: DedupPaths) -> dict[str, Any] | None:
    if not paths.done.exists():
        return None
    if not (paths.kept.exists() and paths.removed.exists()):
        return None  # outputs deleted by hand: redo
    try:
        data = json.loads(paths.done.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) and {"spec", "inputs", "sha256"} <= data.keys() else None


def _check_inputs(
    inputs: Iterable[Record], paths: DedupPaths
) -> tuple[_Fingerprint, Iterable[Record]]:
    """Fingerprint the inputs; return them again for a redo (spooled if they were one-shot)."""
    fingerprint = _Fingerprint()
    one_shot = iter(inputs) is inputs
    if not one_shot:
        for record in inputs:
            fingerprint.add(record)
        return fingerprint, inputs
    with paths.spool.open("wb") as spool:
        for record in inputs:
            fingerprint.add(record)
            spool.write(record.model_dump_json().encode("utf-8") + b"\n")
    return fingerprint, read_records(paths.spool)


def _reused_summary(marker: dict[str, Any], inputs: int, seconds: float) -> DedupSummary:
    before = marker.get("summary", {})
    return DedupSummary(
        name=DEDUP_STAGE,
        inputs=inputs,
        skipped_done=inputs,
        failed=int(before.get("failed", 0)),
        kept=int(before.get("kept", 0)),
        removed=dict(before.get("removed", {})),
        seconds=seconds,
        reused=True,
    )


def _dedup_into(
    paths: DedupPaths,
    inputs: Iterable[Record],
    settings: DedupSettings,
    on_progress: Callable[[int], None],
    encoder: Encoder | None,
) -> tuple[DedupSummary, _Fingerprint]:
    paths.done.unlink(missing_ok=True)  # first: a crash from here on leaves no marker
    for path in (paths.kept, paths.removed):
        path.unlink(missing_ok=True)
    summary = DedupSummary(name=DEDUP_STAGE)
    fingerprint = _Fingerprint()
    with StageFile(paths.kept) as kept, StageFile(paths.removed) as removed:

        def comparable() -> Iterator[Record]:
            """Inputs with text go to the index; the others become failed records here."""
            for record in inputs:
                fingerprint.add(record)
                summary.inputs += 1
                on_progress(1)
                if record.status != "ok":
                    why = f"the input failed at stage {record.stage!r}"
                elif field_text(record, settings.field) is None:
                    why = f"no text in field {settings.field!r} to compare"
                else:
                    yield record
                    continue
                kept.append([record.failed(DEDUP_STAGE, why)])
                summary.failed += 1

        from sagert.diversity.dedup import dedup_records  # datasketch loads scipy: ~1 s

        for record, dup in dedup_records(comparable(), settings, encoder=encoder):
            if dup is None:
                kept.append([record.child(DEDUP_STAGE)])
                summary.kept += 1
            else:
                removed.append([_removed(record, dup)])
                summary.removed[dup.method] = summary.removed.get(dup.method, 0) + 1
    for path in (paths.kept, paths.removed):
        _fsync(path)
    summary.written = summary.kept + sum(summary.removed.values()) + summary.failed
    return summary, fingerprint


def _removed(record: Record, dup: DuplicateOf) -> Record:
    duplicate_of = {**dup.as_dict(), "id": kept_id(dup.id), "input_id": dup.id}
    return record.child(DEDUP_STAGE, meta={**record.meta, "duplicate_of": duplicate_of})


def _fsync(path: Path) -> None:
    """The marker may only outlive a power cut if the files it vouches for do too."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@stages.register(
    DEDUP_STAGE, "Exact, MinHash and embedding near-duplicates removed, with the id kept."
)
@dataclass
class Dedup:
    """Whole-stream: whether a prompt is a duplicate depends on every prompt before it."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt",)
    makes: ClassVar[tuple[str, ...]] = ("prompt",)  # the same prompts, duplicates taken out
    Settings: ClassVar[type[BaseModel]] = DedupSettings

    settings: DedupSettings

    def active(self) -> bool:
        s = self.settings
        return s.exact or s.minhash or s.embedding

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")

    def roles(self) -> tuple[str, ...]:
        return ()

    async def run_stream(
        self,
        inputs: Iterator[Record],
        total: int | None,
        ctx: RunContext,
        progress: ProgressFactory,
    ) -> list[StageSummary]:
        with progress(self.name, total) as advance:
            return [await run_dedup(ctx, inputs, self.settings, on_progress=advance)]

    def outputs(self, ctx: RunContext) -> tuple[Iterator[Record], int | None]:
        return ctx.store.records(self.name, ok_only=True), ctx.store.count(self.name, ok_only=True)
