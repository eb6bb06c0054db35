"""`sagert align --rounds N`: train again on the current model's own failures (Egida).

Round 0 is `sagert align` as it was: the generated pairs, trained from the base model. Each
further round r: round r-1's model, answering through the engine it is evaluated with (its
f16 GGUF through llama.cpp, else transformers), answers the training prompts in a run folder
of its own (`RunPaths.round_answers`: an evaluation with the evaluate judge); its unsafe
answers are the rejected side of the round's pairs, the run's validated chosen answers the
chosen side (round_data.py); with `align.redteam` an archive attacking it adds its successful
attacks (round_redteam.py); with `align.round_contrast` (the default) the run's contrast pairs
join them at the run's share. The model trains further from round r-1's weights
(`train.base_model` is that folder) and the run's evaluation answers with it as target
`<method>-r<r>`: every point of the curve has the same prompts, engine and judge.

Resume: every model call is in a stage file (answers, archive steps, evaluation); a round
trains again only when its inputs (the pairs' digest, the starting model's files, the
settings) differ from the last time, and an unfinished training resumes from its checkpoints.
No torch here: training runs in the child process.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.summary import stopped_by
from sagert.judges import make_judge
from sagert.judges.base import judge_kind
from sagert.models.spec import ModelSpec
from sagert.settings.evaluate import EvaluateSettings, PromptSource
from sagert.settings.run import RunConfig
from sagert.settings.train import TrainSettings
from sagert.stages.evaluation import NO_ATTACK
from sagert.store.paths import RunPaths
from sagert.store.run import RunStore
from sagert.training.trainer import TrainResult, finished_training
from sagert.workflows import evaluate as evaluation
from sagert.workflows.evaluate import EvaluationResult
from sagert.workflows.round_data import (
    ANSWERS_TARGET,
    AnswerCounts,
    answer_pairs,
    contrast_rows,
    file_digest,
    folder_stamp,
    mixed,
    write_pairs,
    write_train_prompts,
)
from sagert.workflows.round_redteam import redteam_pairs, sub_run_config

TRAIN_SOURCE = "train_prompts"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoundTraining:
    """How a round trains and how its model answers: `sagert align`'s are the child trainer
    and the f16 GGUF (or the transformers folder); a test may script both."""

    train: Callable[[Path, TrainSettings, Path], TrainResult]
    spec: Callable[[TrainResult], ModelSpec]


@dataclass(frozen=True)
class RoundResult:
    index: int
    target: str
    model: TrainResult
    """The round's model: the last round's when the round had no pairs to train on."""
    trained: bool
    prompts: int = 0
    counts: AnswerCounts = field(default_factory=AnswerCounts)
    pairs: int = 0
    redteam_pairs: int = 0
    contrast_pairs: int = 0

    def info(self) -> dict[str, Any]:
        """The round as align.json keeps it (the report and summary.json read it)."""
        return {
            "round": self.index,
            "target": self.target,
            "trained": self.trained,
            "from": str(self.model.base_model),
            "train_dir": str(self.model.output_dir),
            "steps": self.model.steps,
            "prompts": self.prompts,
            "answered": self.counts.answered,
            "unsafe_answers": self.counts.unsafe,
            "answer_errors": self.counts.errors,
            "pairs": self.pairs if self.index else self.model.train_pairs,
            "redteam_pairs": self.redteam_pairs,
            "contrast_pairs": self.contrast_pairs,
        }


@dataclass(frozen=True)
class RoundsResult:
    evaluation: EvaluationResult | None
    """The last round's evaluation (None when no round after round 0 ran)."""
    rounds: list[RoundResult]
    stopped: str | None = None
    """Why the rounds stopped early (a budget), or None."""


def round_target(method: str, index: int) -> str:
    """Round 0's target keeps today's name (the method); later rounds add -r<index>."""
    return method if index == 0 else f"{method}-r{index}"


def round_settings(
    settings: TrainSettings, paths: RunPaths, index: int, previous: TrainResult
) -> TrainSettings:
    """Round 0's settings, training from the last round's folder into the round's; every
    round pair comes from a training prompt, so none is held out again."""
    out = paths.round_train_dir(index, round_target(settings.method, index))
    return settings.model_copy(
        update={
            "base_model": str(previous.final_model),
            "output_dir": str(out),
            "heldout_fraction": 0.0,
        }
    )


def train_round(
    paths: RunPaths,
    index: int,
    settings: TrainSettings,
    previous: TrainResult,
    train: Callable[[Path, TrainSettings, Path], TrainResult],
) -> TrainResult:
    """Train once per inputs: the same pairs from the same model with the same settings are
    a finished round; different inputs start the round's training folder afresh."""
    out = Path(str(settings.output_dir))
    pairs = paths.round_pairs(index)
    inputs = {
        "pairs_sha256": file_digest(pairs),
        "from": [list(f) for f in folder_stamp(previous.final_model)],
        "settings": settings.model_dump(mode="json"),
    }
    path = paths.round_inputs(index)
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = None
    if known != inputs:
        if out.exists():
            log.info("round %d: new pairs or a new starting model: training again", index)
            shutil.rmtree(out)
        RunStore(paths.root).write_text(path, json.dumps(inputs, indent=1) + "\n")
    done = finished_training(out, settings)
    if done is not None:
        log.info("round %d: already trained (%s)", index, done.final_model)
        return done
    return train(pairs, settings, out)


def record_rounds(store: RunStore, rounds: list[RoundResult]) -> None:
    """align.json: the rounds in order, the last one the `after` of the comparison."""
    align = store.align_info()
    dirs = {*align.get("train_dirs", []), *(str(r.model.output_dir) for r in rounds)}
    align.update(
        {
            "after": rounds[-1].target,
            "rounds": [r.info() for r in rounds],
            "train_dirs": sorted(dirs),
        }
    )
    store.write_text(store.paths.align_json, json.dumps(align, indent=2, ensure_ascii=False) + "\n")


def _labelled(progress: ProgressFactory, label: str) -> ProgressFactory:
    return lambda name, total: progress(f"{label}: {name}", total)


def answers_settings(config: RunConfig, source: PromptSource, model: ModelSpec) -> EvaluateSettings:
    """The evaluate judge on one answer per training prompt, as sent: the model's own failures."""
    base = config.evaluate or EvaluateSettings()
    return base.model_copy(
        update={
            "prompts": [source],
            "targets": {ANSWERS_TARGET: model},
            "attacks": [NO_ATTACK],
            "n_samples": 1,
            "limit": None,
            "judge_calibration": None,
        }
    )


def run_rounds(
    config: RunConfig,
    settings: TrainSettings,
    evaluate: EvaluateSettings,
    first: TrainResult,
    training: RoundTraining,
    *,
    progress: ProgressFactory = no_progress,
) -> RoundsResult:
    """Rounds 1..align.rounds-1 after round 0 (`first`, evaluated in `evaluate`'s targets)."""
    paths, store = RunPaths(config.run_dir), RunStore(config.run_dir)
    pair_judge = config.stages.judge
    kind = judge_kind(make_judge(pair_judge.judge, pair_judge.settings))
    chosen = write_train_prompts(store, settings.heldout_fraction, pair_judge.judge, kind)
    source = PromptSource(
        path=paths.train_prompts,
        loader="sagert",
        name=TRAIN_SOURCE,
        sample=config.align.round_prompts,
    )
    wanted: set[str] = set()
    if chosen:
        resolved = evaluation.resolve_sources(EvaluateSettings(prompts=[source]))[0]
        wanted = {
            str(r.meta.get("origin_id")) for r in evaluation.source_records(resolved, config.seed)
        }
    targets = dict(evaluate.targets)
    done = [RoundResult(0, round_target(settings.method, 0), first, True)]
    record_rounds(store, done)
    result: EvaluationResult | None = None
    for index in range(1, config.align.rounds):
        previous = done[-1]
        current = targets[previous.target]
        assert current is not None, "align's targets are model specs"
        rows: list[dict[str, Any]] = []
        counts = AnswerCounts()
        if wanted:  # the current model answers the training prompts, each answer judged
            answered = evaluation.run(
                sub_run_config(config, paths.round_answers(index), current),
                answers_settings(config, source, current),
                progress=_labelled(progress, f"round {index} answers"),
                replace_changed=True,
            )
            stopped = stopped_by(answered.summaries)
            if stopped:  # a budget: train on no half a round
                return RoundsResult(result, done, stopped)
            rows, counts = answer_pairs(paths.round_answers(index), chosen, wanted, index)
        red = redteam_pairs(config, index, current) if config.align.redteam else []
        harmful = [*rows, *red]
        extra = contrast_rows(store, len(harmful), index) if config.align.round_contrast else []
        n = write_pairs(store, paths.round_pairs(index), mixed(harmful, extra))
        name = round_target(settings.method, index)
        model, trained = previous.model, False
        if n:
            round_s = round_settings(settings, paths, index, previous.model)
            model, trained = (
                train_round(paths, index, round_s, previous.model, training.train),
                True,
            )
            targets[name] = training.spec(model)
        else:
            log.info("round %d: no unsafe answers: the model stays round %d's", index, index - 1)
            targets[name] = current
        done.append(
            RoundResult(
                index, name, model, trained, len(wanted), counts, len(rows), len(red), len(extra)
            )
        )
        record_rounds(store, done)
        result = evaluation.run(
            config,
            evaluate.model_copy(update={"targets": dict(targets)}),
            progress=progress,
            replace_changed=True,
        )
        stopped = stopped_by(result.summaries)
        if stopped:
            return RoundsResult(result, done, stopped)
    return RoundsResult(result, done)
