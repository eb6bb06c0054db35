"""Append-only JSONL per stage: crash-safe lines, torn tails repaired, streamed reads."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.store.records import Record

log = logging.getLogger(__name__)


class StageFile:
    """One stage's output. A record is one line written by one write(2): all or nothing.

    On open, a last line without its newline (a crash mid-write) is cut off, and the
    input ids already done are collected so a re-run skips them.
    """

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.done: set[str] = set()
        self.count = 0
        self.failed = 0
        self.torn_bytes = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_and_index()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _repair_and_index(self) -> None:
        if not self.path.exists():
            return
        good_end = 0
        with self.path.open("rb") as fh:
            for line_no, (offset, line) in enumerate(_lines_with_offsets(fh), start=1):
                if not line.endswith(b"\n"):
                    break  # torn tail: dropped below
                try:
                    row = json.loads(line)
                    source = row.get("parent_id") or row["id"]
                except (ValueError, KeyError, AttributeError, TypeError):
                    raise UserError(
                        f"line {line_no} is not a record (corrupt file?)",
                        file=self.path,
                        fix="restore it from a backup, or delete the file to redo this stage",
                    ) from None
                self.done.add(source)
                self.count += 1
                self.failed += row.get("status") == "failed"
                good_end = offset + len(line)
        size = self.path.stat().st_size
        if size > good_end:
            self.torn_bytes = size - good_end
            log.warning(
                "%s: dropping a torn last line (%d bytes) left by an interrupted run",
                self.path,
                self.torn_bytes,
            )
            with self.path.open("r+b") as fh:
                fh.truncate(good_end)

    def set_aside_failed(self) -> int:
        """Make the inputs that failed for good undone, so this run tries them again.

        Every record made from such an input (an input may have made some ok records beside
        a failed one) moves to `<stage>.retried.jsonl`; the same input gives the same ids
        again. Returns how many inputs will be retried.
        """
        if not self.failed:
            return 0
        lines = self.path.read_bytes().splitlines(keepends=True)
        rows = [json.loads(line) for line in lines]
        retry = {r.get("parent_id") or r["id"] for r in rows if r.get("status") == "failed"}
        keep = [
            ln
            for ln, r in zip(lines, rows, strict=True)
            if (r.get("parent_id") or r["id"]) not in retry
        ]
        moved = [
            ln
            for ln, r in zip(lines, rows, strict=True)
            if (r.get("parent_id") or r["id"]) in retry
        ]
        with self.path.with_name(f"{self.path.stem}.retried.jsonl").open("ab") as fh:
            fh.writelines(moved)
        os.close(self._fd)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_bytes(b"".join(keep))
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.done -= retry
        self.count = len(keep)
        self.failed = 0
        return len(retry)

    def is_done(self, source_id: str) -> bool:
        return source_id in self.done

    def append(self, records: Iterable[Record]) -> None:
        """Write records made from one input together, so a crash keeps all or none."""
        rows = list(records)
        if not rows:
            return
        blob = b"".join(r.model_dump_json().encode("utf-8") + b"\n" for r in rows)
        written = os.write(self._fd, blob)
        while written < len(blob):  # only on exotic filesystems
            written += os.write(self._fd, blob[written:])
        if self.fsync:
            os.fsync(self._fd)
        for r in rows:
            self.done.add(r.parent_id or r.id)
            self.failed += r.status == "failed"
        self.count += len(rows)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> StageFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lines_with_offsets(fh: Any) -> Iterator[tuple[int, bytes]]:
    offset = 0
    for line in fh:
        yield offset, line
        offset += len(line)


def read_records(path: Path) -> Iterator[Record]:
    """Stream a stage file; a torn last line is skipped (the writer repairs it on open)."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):
                yield Record.model_validate_json(line)
