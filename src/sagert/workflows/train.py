"""`sagert train`: the run's validated pairs into a DPO or SimPO training (TRL).

Training runs in a child process (training/child.py): the caller, `sagert align` above all,
evaluates afterwards without keeping the training's memory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sagert.core.validation import validate
from sagert.settings.run import RunConfig
from sagert.settings.train import TrainSettings
from sagert.store.paths import RunPaths
from sagert.training.child import train_in_child
from sagert.training.trainer import TrainResult, finished_training, train_dir
from sagert.workflows.export import export_run

log = logging.getLogger(__name__)


def train_settings(
    config: RunConfig, overrides: dict[str, Any], *, file: Path | None = None
) -> TrainSettings:
    """The config's train section with the command line's overrides (None: not given)."""
    updates = {k: v for k, v in overrides.items() if v is not None}
    data = {**config.train.model_dump(), **updates}
    return validate(TrainSettings, data, file=str(file) if file else None, prefix="train")


def export_path(config: RunConfig) -> Path:
    """The TRL export the trainer reads, written first when the run has none yet."""
    path = RunPaths(config.run_dir).trl_export
    if not path.is_file():
        export_run(config.run_dir, ["trl"])
    return path


def run(
    config: RunConfig, settings: TrainSettings | None = None, *, output: Path | None = None
) -> TrainResult:
    settings = settings or config.train
    out = output or train_dir(config.run_dir, settings)
    return train_in_child(export_path(config), settings, out)


def train_once(config: RunConfig, settings: TrainSettings) -> TrainResult:
    """Train unless the same training already finished (then reuse its model)."""
    out = train_dir(config.run_dir, settings)
    done = finished_training(out, settings)
    if done is not None:
        log.info("%s: already trained (%s)", settings.method, done.final_model)
        return done
    result = train_in_child(RunPaths(config.run_dir).trl_export, settings, out)
    log.info(
        "%s: %d steps, loss %.4f, %d pairs (%d too long, dropped)",
        settings.method,
        result.steps,
        result.train_loss,
        result.train_pairs,
        result.dropped_too_long,
    )
    return result
