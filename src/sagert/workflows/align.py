"""`sagert align`: generate -> export -> train -> evaluate the model before and after training.

Both models answer through the same engine with the same settings, so a difference is the
training's: llama.cpp, both written as f16 GGUFs (training/gguf_targets.py), when the base
model is a llama GGUF (the embedded SmolLM2); else the `transformers` provider. They answer
the generated prompts whose seed prompt was held out of training, plus any prompt files given
(XSTest's safe prompts measure over-refusal). The evaluation lives in the run folder itself:
targets are named `base` and the method (`dpo`, `simpo`), so aligning with both methods gives
one three-way report. No torch here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sagert.core.errors import UserError
from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.summary import StageSummary, stopped_by
from sagert.loaders.runs import run_prompt_file
from sagert.models.spec import ModelSpec
from sagert.settings.evaluate import EvaluateSettings, PromptSource
from sagert.settings.run import RunConfig
from sagert.settings.train import TrainSettings
from sagert.store.paths import RunPaths
from sagert.store.run import RunStore
from sagert.training.child import train_in_child
from sagert.training.gguf_targets import EvaluationGGUFs, evaluation_ggufs, trained_gguf
from sagert.training.split import write_heldout_prompts
from sagert.training.trainer import TrainResult
from sagert.workflows import evaluate as evaluation
from sagert.workflows import generate as generation
from sagert.workflows.evaluate import EvaluationResult
from sagert.workflows.export import export_run
from sagert.workflows.rounds import RoundsResult, RoundTraining, run_rounds
from sagert.workflows.train import train_once

BASE_TARGET = "base"
HELDOUT_SOURCE = "heldout"
LLAMACPP_SLOTS = 8  # parallel answers per engine: more only shares the same CPU cores

log = logging.getLogger(__name__)


def check_plan(cfg: RunConfig, fraction: float, extra_sources: int) -> None:
    """What would leave nothing to evaluate fails before generation and training."""
    if cfg.align.heldout and fraction <= 0:
        raise UserError(
            "nothing is held out of training",
            field="train.heldout_fraction",
            fix="set it above 0 (e.g. 0.2), or align.heldout: false with evaluate.prompts",
        )
    if not cfg.align.heldout and not extra_sources:
        raise _nothing_to_evaluate()


def check_rounds(cfg: RunConfig, settings: TrainSettings) -> None:
    """What `--rounds` cannot do fails before any work."""
    a = cfg.align
    if a.redteam and cfg.redteam is None:
        raise UserError(
            "co-evolution needs a redteam: section (the archive each round runs)",
            field="align.redteam",
            fix="add redteam: {iterations: 20, judge: ...}, or set align.redteam: false",
        )
    if a.redteam and a.rounds < 2:
        raise UserError(
            "co-evolution attacks the model of each round after the first",
            field="align.redteam",
            fix="set align.rounds (or --rounds) to 2 or more",
        )
    if a.rounds > 1 and settings.lora is not None:
        raise UserError(
            "rounds train further from the last round's full weights; a LoRA adapter is not",
            field="align.rounds",
            fix="set train.lora: null for rounds, or align.rounds: 1",
        )


def _nothing_to_evaluate() -> UserError:
    return UserError(
        "nothing to evaluate the models on",
        field="evaluate.prompts",
        fix="add prompt files (e.g. --prompts xstest_prompts.csv) or keep align.heldout: true",
    )


def heldout_source(cfg: RunConfig, fraction: float) -> tuple[PromptSource | None, int]:
    """The generated prompts held out of training, as a prompt source (None if there are none)."""
    if not cfg.align.heldout or fraction <= 0:
        return None, 0
    out = RunPaths(cfg.run_dir).heldout_prompts
    n = write_heldout_prompts(run_prompt_file(cfg.run_dir), out, fraction)
    if n == 0:
        return None, 0
    return PromptSource(
        path=out, loader="sagert", name=HELDOUT_SOURCE, limit=cfg.align.heldout_limit
    ), n


def target_spec(cfg: RunConfig, model: str | Path, gguf: Path | None = None) -> ModelSpec:
    """One evaluated model: a GGUF through llama.cpp, else a folder through transformers."""
    a = cfg.align
    if gguf is not None:
        return ModelSpec(
            model=f"llamacpp/{gguf.name}",
            config=a.config,
            args={"gguf": str(gguf), "n_parallel": min(a.max_batch_size, LLAMACPP_SLOTS)},
        )
    return ModelSpec(
        model=f"transformers/{model}",
        config=a.config,
        args={"max_batch_size": a.max_batch_size, "device": a.device},
    )


def engine_ggufs(cfg: RunConfig, trained: TrainResult, base_model: str) -> EvaluationGGUFs | None:
    """The GGUFs both models answer from (align.engine), None for the transformers provider."""
    if cfg.align.engine == "transformers":
        return None
    found = evaluation_ggufs(trained, base_model)
    if isinstance(found, EvaluationGGUFs):
        return found
    if cfg.align.engine == "llamacpp":
        raise UserError(
            f"cannot evaluate through llama.cpp: {found}",
            field="align.engine",
            fix="use auto or transformers",
        )
    log.warning("evaluating through transformers (slower): %s", found)
    return None


def evaluation_settings(
    cfg: RunConfig,
    evaluate: EvaluateSettings,
    sources: list[PromptSource],
    trained: TrainResult,
    method: str,
    ggufs: EvaluationGGUFs | None = None,
) -> EvaluateSettings:
    """The user's evaluate settings with the base and the trained model as the targets."""
    if not sources:  # no held-out prompt survived generation, and no prompt file was given
        raise _nothing_to_evaluate()
    targets: dict[str, ModelSpec | None] = {
        BASE_TARGET: target_spec(cfg, trained.base_model, ggufs.base if ggufs else None),
        method: target_spec(cfg, trained.final_model, ggufs.trained if ggufs else None),
    }
    return evaluate.model_copy(update={"prompts": sources, "targets": targets})


def record_alignment(store: RunStore, method: str, trained: TrainResult) -> None:
    """align.json: which targets to compare (base first) and where training lives."""
    align = store.align_info()
    align.update(
        {
            "before": BASE_TARGET,
            "after": method,
            "base_model": trained.base_model,
            "train_dirs": sorted({*align.get("train_dirs", []), str(trained.output_dir)}),
        }
    )
    align.pop("rounds", None)  # `--rounds` writes them again (results/rounds.py reads them)
    store.write_text(store.paths.align_json, json.dumps(align, indent=2, ensure_ascii=False) + "\n")


def round_training(cfg: RunConfig, base_model: str, ggufs: EvaluationGGUFs | None) -> RoundTraining:
    """Later rounds train in the child process and answer through round 0's engine, each GGUF
    named after its round (`simpo-r1.gguf`), so the tables tell the rounds' models apart."""

    def spec(trained: TrainResult) -> ModelSpec:
        if ggufs is None:
            return target_spec(cfg, trained.final_model)
        name = f"{trained.output_dir.name}.gguf"
        found = trained_gguf(trained.final_model, base_model, name)
        if isinstance(found, str):
            raise UserError(
                f"cannot evaluate a round's model through llama.cpp: {found}",
                field="align.engine",
                fix="set align.engine: transformers (every round through one engine)",
            )
        return target_spec(cfg, trained.final_model, found)

    return RoundTraining(train=train_in_child, spec=spec)


@dataclass(frozen=True)
class AlignResult:
    trained: TrainResult | None
    """None when a budget stopped generation (nothing after it ran)."""
    heldout_prompts: int
    evaluation: EvaluationResult | None
    generation: list[StageSummary]
    rounds: RoundsResult | None = None
    """`--rounds` above 1: every round's model and figures (round 0 first)."""


def run(
    config: RunConfig,
    *,
    train: TrainSettings | None = None,
    prompts: list[PromptSource] | None = None,
    limit: int | None = None,
    generate: bool = True,
    progress: ProgressFactory = no_progress,
) -> AlignResult:
    """Generate, export, train (once), then evaluate the base and the trained model.

    `prompts` are evaluated on beside the held-out generated prompts (e.g. XSTest); every step
    resumes, and a bad prompt file fails before an hour of training.
    """
    settings = train or config.train
    evaluate = config.evaluate or EvaluateSettings()
    extra = [*evaluate.prompts, *(prompts or [])]
    if limit is not None:
        evaluate = evaluation.with_limit(evaluate, limit)
    if extra:
        evaluation.prepare(evaluate.model_copy(update={"prompts": extra}), config.seed)
    check_plan(config, settings.heldout_fraction, len(extra))
    check_rounds(config, settings)
    # the prompt files evaluated on are test sets: no contrast pair may be made from them
    gen_config = generation.with_test_sets(config, prompts or [])
    generated = generation.run(gen_config, progress=progress) if generate else []
    if stopped_by(generated):
        return AlignResult(None, 0, None, generated)  # a budget: train on no half dataset
    export_run(config.run_dir, ["trl"])
    trained = train_once(config, settings)
    held, n_held = heldout_source(config, settings.heldout_fraction)
    log.info("held-out prompts (seed split): %d", n_held)
    ggufs = engine_ggufs(config, trained, settings.base_model)
    sources = [*([held] if held else []), *extra]
    final = evaluation_settings(config, evaluate, sources, trained, settings.method, ggufs)
    result = evaluation.run(config, final, progress=progress, replace_changed=True)
    record_alignment(RunStore(config.run_dir), settings.method, trained)
    if config.align.rounds < 2:
        return AlignResult(trained, n_held, result, generated)
    training = round_training(config, settings.base_model, ggufs)
    rounds = run_rounds(config, settings, final, trained, training, progress=progress)
    last = rounds.evaluation or result
    return AlignResult(trained, n_held, last, generated, rounds)
