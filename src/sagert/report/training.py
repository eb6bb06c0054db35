"""The Training section: loss curves from `train/*/train_log.jsonl` and `train_result.json`
(and from the folders align.json's `train_dirs` names, for a training written elsewhere).

A log is appended by a trainer callback, so a killed run leaves a torn last line and a
resumed one logs some steps twice: unreadable lines and non-finite numbers are skipped, and
a step's last value wins. Folder names and result values are text like any other: the
template escapes them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagert.report.charts import LineChart, line_chart
from sagert.store.run import RunStore
from sagert.training.trainer import LOG_FILE, RESULT_FILE

MAX_RUNS = 20
MAX_VALUE_CHARS = 300
RESULT_KEYS = (
    "method",
    "base_model",
    "steps",
    "train_loss",
    "train_pairs",
    "heldout_pairs",
    "final_model",
)


def finite(value: Any) -> float | None:
    """A JSON number that is neither a bool nor NaN/inf, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _step(value: Any) -> int | None:
    number = finite(value)
    return int(number) if number is not None and number.is_integer() and number >= 0 else None


@dataclass
class TrainLog:
    """What one training folder logged; every figure is None when never logged."""

    losses: dict[int, float] = field(default_factory=dict)
    last_step: int | None = None
    train_loss: float | None = None
    margins: float | None = None
    accuracies: float | None = None
    lines: int = 0
    skipped: int = 0

    def add(self, line: str) -> None:
        if not line.strip():
            return
        self.lines += 1
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            self.skipped += 1
            return
        step = _step(entry.get("step"))
        if step is not None:
            self.last_step = step if self.last_step is None else max(self.last_step, step)
        loss = finite(entry.get("loss"))
        if loss is not None and step is not None:
            self.losses[step] = loss  # a resumed run logs some steps again: the last wins
        for key, attr in (
            ("train_loss", "train_loss"),
            ("rewards/margins", "margins"),
            ("rewards/accuracies", "accuracies"),
        ):
            value = finite(entry.get(key))
            if value is not None:
                setattr(self, attr, value)

    @property
    def curve(self) -> list[tuple[float, float]]:
        return [(float(step), self.losses[step]) for step in sorted(self.losses)]


def read_train_log(path: Path) -> TrainLog:
    log = TrainLog()
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            log.add(line)
    return log


def read_train_result(path: Path) -> dict[str, Any] | None:
    """train_result.json as a mapping, or None when missing or not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def value_text(value: Any) -> str:
    number = finite(value)
    if isinstance(value, float):
        if number is None:
            return "-"
        return f"{number:.4f}" if number == 0 or 1e-3 <= abs(number) < 1e9 else f"{number:.4g}"
    if value is None:
        return "-"
    if isinstance(value, str | int):  # bool is an int
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _result_rows(result: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(the result's own fields, its `settings` flattened): known fields first."""
    keys = [k for k in RESULT_KEYS if k in result]
    keys += sorted(str(k) for k in result if k not in RESULT_KEYS and k != "settings")
    settings = result.get("settings")
    flat: list[tuple[str, str]] = []
    if isinstance(settings, dict):
        flat = [
            (str(k), value_text(v)) for k, v in sorted(settings.items(), key=lambda kv: str(kv[0]))
        ]
    return [(key, value_text(result[key])) for key in keys], flat


def _facts(log: TrainLog) -> list[tuple[str, str]]:
    curve = log.curve
    facts: list[tuple[str, str]] = [
        ("steps", "-" if log.last_step is None else str(log.last_step)),
        ("logged losses", str(len(curve))),
    ]
    if curve:
        (first_step, first), (last_step, last) = curve[0], curve[-1]
        facts.append(("first loss", f"{first:.4f} (step {first_step:.0f})"))
        facts.append(("last loss", f"{last:.4f} (step {last_step:.0f})"))
    for label, value in (
        ("final train_loss", log.train_loss),
        ("last rewards/margins", log.margins),
        ("last rewards/accuracies", log.accuracies),
    ):
        if value is not None:
            facts.append((label, f"{value:.4f}"))
    if log.skipped:
        facts.append(("unreadable lines skipped", str(log.skipped)))
    return facts


def _folders(store: RunStore) -> list[Path]:
    """train/* under the run, then align.json's `train_dirs` (an --output elsewhere)."""
    found: list[Path] = []
    root = store.paths.train_root
    if root.is_dir():
        found += sorted(p for p in root.iterdir() if p.is_dir())
    for given in _align_train_dirs(store):
        path = Path(given)  # relative: to where `sagert align` ran, else to the run
        for candidate in (path, store.path / path):
            if candidate.is_dir():
                found.append(candidate)
                break
    unique: list[Path] = []
    seen: set[Path] = set()
    for folder in found:
        key = folder.resolve()
        if key not in seen and ((folder / LOG_FILE).is_file() or (folder / RESULT_FILE).is_file()):
            seen.add(key)
            unique.append(folder)
    return unique[:MAX_RUNS]


def _align_train_dirs(store: RunStore) -> list[str]:
    dirs = store.align_info().get("train_dirs")
    return [d for d in dirs if isinstance(d, str) and d] if isinstance(dirs, list) else []


def _shown_path(folder: Path, run_dir: Path) -> str:
    try:
        return str(folder.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(folder)


def training_view(store: RunStore) -> list[dict[str, Any]]:
    """One entry per training folder with a log or a result; empty when the run has none."""
    runs: list[dict[str, Any]] = []
    for folder in _folders(store):
        log_path = folder / LOG_FILE
        log = read_train_log(log_path) if log_path.is_file() else None
        result = read_train_result(folder / RESULT_FILE)
        chart: LineChart | None = None
        if log is not None and log.losses:
            chart = line_chart(f"{folder.name}: training loss by step", log.curve)
        fields, settings = _result_rows(result) if result is not None else ([], [])
        runs.append(
            {
                "method": folder.name,
                "folder": _shown_path(folder, store.path),
                "chart": chart,
                "facts": _facts(log) if log is not None else [],
                "result": fields,
                "settings": settings,
            }
        )
    return runs
