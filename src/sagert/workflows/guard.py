"""`sagert train --method guard`: the run's records into a guardrail classifier.

The examples (training/guard_data.py) are written beside the model, so what a guard was
trained on can be read back; the training runs in a child process (training/guard_child.py)
and is skipped when the same request already finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.core.templates import Templates
from sagert.core.validation import validate
from sagert.settings.guard import GuardSettings
from sagert.settings.run import RunConfig
from sagert.store.jsonl import read_records
from sagert.store.paths import RunPaths
from sagert.store.run import RunStore, write_json
from sagert.training.guard import GuardRequest, GuardResult, finished_guard
from sagert.training.guard_child import train_guard_in_child
from sagert.training.guard_data import (
    Dataset,
    GuardExample,
    benign_examples,
    build_dataset,
    cap_share,
    file_examples,
    pair_examples,
    write_examples,
)
from sagert.workflows.export import pair_records

log = logging.getLogger(__name__)

METHOD = "guard"
INPUT_TEMPLATE = "guard/input.j2"
TRAIN_EXAMPLES = "examples.train.jsonl"
VALIDATION_EXAMPLES = "examples.validation.jsonl"
RESTARTS_FILE = "restarts.json"


def guard_settings(
    config: RunConfig, overrides: dict[str, Any], *, file: Path | None = None
) -> GuardSettings:
    """The config's guard section with the command line's overrides (None: not given)."""
    updates = {k: v for k, v in overrides.items() if v is not None}
    data = {**config.guard.model_dump(), **updates}
    return validate(GuardSettings, data, file=str(file) if file else None, prefix="guard")


def guard_dir(config: RunConfig, settings: GuardSettings) -> Path:
    """guard.output_dir, else runs/<name>/train/guard."""
    return Path(settings.output_dir or RunPaths(config.run_dir).train_dir(METHOD))


def input_template(config: RunConfig) -> str:
    """The source of the classifier's input template (a user's override wins)."""
    templates = Templates(config.templates_dir)
    loader = templates.env.loader
    assert loader is not None
    source, _, _ = loader.get_source(templates.env, INPUT_TEMPLATE)
    return source


def run_examples(config: RunConfig, settings: GuardSettings) -> list[GuardExample]:
    """The run's validated pairs and benign prompts as examples (none when there is no run)."""
    if not config.run_dir.is_dir():
        return []
    store = RunStore.reader(config.run_dir)
    examples = list(pair_examples(pair_records(store), settings.category_level))
    benign = store.paths.benign
    if benign.is_file():
        examples.extend(benign_examples(read_records(benign)))
    return examples


def dataset(
    config: RunConfig,
    settings: GuardSettings,
    *,
    extra: Iterable[GuardExample] = (),
    labels: list[str] | None = None,
    required: bool = True,
) -> Dataset:
    """Every example the guard trains and validates on: the run's, the files', `extra`
    (`required`: none to train on is an error)."""
    own = run_examples(config, settings) if settings.run else []
    files: list[GuardExample] = []
    skipped = 0
    for name in settings.examples:
        loaded = file_examples(Path(name))
        files.extend(loaded.examples)
        skipped += loaded.skipped_heldout
    if settings.run_share is not None:
        kept = cap_share(own, files, settings.run_share, settings.seed)
        log.info(
            "guard: %d of the run's %d examples kept (run_share %s)",
            len(kept),
            len(own),
            settings.run_share,
        )
        own = kept
    examples = [*own, *files, *extra]
    data = build_dataset(
        examples, settings.validation_fraction, labels=labels, skipped_heldout=skipped
    )
    if required and not data.split("train"):
        raise UserError(
            "no guard training examples",
            file=config.run_dir,
            field="guard",
            fix="generate pairs first (sagert generate), or give guard.examples",
        )
    return data


def request_for(
    config: RunConfig,
    settings: GuardSettings,
    train: Sequence[GuardExample],
    validation: Sequence[GuardExample],
    labels: list[str],
    out: Path,
    *,
    base_model: str | None = None,
) -> GuardRequest:
    """Write the examples beside the model and describe the training."""
    train_file, valid_file = out / TRAIN_EXAMPLES, out / VALIDATION_EXAMPLES
    write_examples(train_file, train)
    write_examples(valid_file, validation)
    return GuardRequest(
        train_file=str(train_file),
        validation_file=str(valid_file),
        labels=labels,
        input_template=input_template(config),
        settings=settings,
        output_dir=str(out),
        base_model=base_model,
        examples_sha256=files_sha256(train_file, valid_file),
    )


def files_sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def train_best(
    config: RunConfig,
    settings: GuardSettings,
    train: Sequence[GuardExample],
    validation: Sequence[GuardExample],
    labels: list[str],
    out: Path,
    *,
    base_model: str | None = None,
) -> GuardResult:
    """One training, or `settings.restarts` of them (seed, seed+1, ...) in out/seed-N/, the one
    with the best validation unsafe F1 (the first on a tie) copied to out/final/."""
    if settings.restarts == 1:
        return train_request(
            request_for(config, settings, train, validation, labels, out, base_model=base_model)
        )
    results = []
    for k in range(settings.restarts):
        seeded = settings.model_copy(update={"seed": settings.seed + k, "restarts": 1})
        where = out / f"seed-{seeded.seed}"
        request = request_for(
            config, seeded, train, validation, labels, where, base_model=base_model
        )
        results.append(train_request(request))
    scores = [-1.0 if r.validation_f1 is None else r.validation_f1 for r in results]
    best = results[scores.index(max(scores))]
    record = {
        "chosen": best.final_model,
        "by": "validation unsafe F1",
        "seeds": [
            {"seed": settings.seed + k, "validation_f1": r.validation_f1, "loss": r.train_loss}
            for k, r in enumerate(results)
        ],
    }
    final = out / "final"
    if _read_restarts(out) != record or not final.is_dir():
        copy_folder(Path(best.final_model), final)
        write_json(out / RESTARTS_FILE, record)
    log.info("guard: %s kept of %d restarts", Path(best.output_dir).name, len(results))
    return best.model_copy(update={"final_model": str(final), "output_dir": str(out)})


def restarts_of(result: GuardResult) -> dict[str, Any] | None:
    """The restarts' record beside a kept guard (None: one training)."""
    return _read_restarts(Path(result.output_dir))


def _read_restarts(out: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((out / RESTARTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def copy_folder(source: Path, target: Path) -> None:
    """Replace `target` with a copy of `source` (copied beside it first, then swapped in)."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def train_request(request: GuardRequest) -> GuardResult:
    """The finished training of this request, or a new one in a child process."""
    done = finished_guard(request)
    if done is not None:
        log.info("guard: already trained (%s)", done.final_model)
        return done
    return train_guard_in_child(request)


def run(
    config: RunConfig, settings: GuardSettings | None = None, *, output: Path | None = None
) -> GuardResult:
    settings = settings or config.guard
    out = output or guard_dir(config, settings)
    data = dataset(config, settings)
    if data.skipped_heldout:
        log.info("guard: %d held-out rows left out of training", data.skipped_heldout)
    return train_best(
        config, settings, data.split("train"), data.split("validation"), data.labels, out
    )
