"""`sagert align`: generate -> export -> train -> evaluate the model before and after training.

Both models answer through the same engine (the `transformers` provider, same settings), so
a difference is the training's. They answer the generated prompts whose seed prompt was held
out of training, plus any prompt files given (XSTest's safe prompts measure over-refusal).
The evaluation lives in the run folder itself: targets are named `base` and the method
(`dpo`, `simpo`), so aligning with both methods gives one three-way report. No torch here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sagert.config import RunConfig
from sagert.errors import UserError
from sagert.evaluation.loaders import run_prompt_file
from sagert.evaluation.settings import EvaluateSettings, PromptSource
from sagert.models.spec import ModelSpec
from sagert.store.run import write_atomic
from sagert.training.split import write_heldout_prompts
from sagert.training.trainer import TrainResult

ALIGN_FILE = "align.json"
BASE_TARGET = "base"
HELDOUT_SOURCE = "heldout"


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
    out = cfg.run_dir / "align" / "heldout_prompts.jsonl"
    n = write_heldout_prompts(run_prompt_file(cfg.run_dir), out, fraction)
    if n == 0:
        return None, 0
    return PromptSource(
        path=out, loader="sagert", name=HELDOUT_SOURCE, limit=cfg.align.heldout_limit
    ), n


def target_spec(cfg: RunConfig, model: str | Path) -> ModelSpec:
    a = cfg.align
    return ModelSpec(
        model=f"transformers/{model}",
        config=a.config,
        args={"max_batch_size": a.max_batch_size, "device": a.device},
    )


def evaluation_settings(
    cfg: RunConfig,
    evaluate: EvaluateSettings,
    sources: list[PromptSource],
    trained: TrainResult,
    method: str,
) -> EvaluateSettings:
    """The user's evaluate settings with the base and the trained model as the targets."""
    if not sources:  # no held-out prompt survived generation, and no prompt file was given
        raise _nothing_to_evaluate()
    targets: dict[str, ModelSpec | None] = {
        BASE_TARGET: target_spec(cfg, trained.base_model),
        method: target_spec(cfg, trained.final_model),
    }
    return evaluate.model_copy(update={"prompts": sources, "targets": targets})


def record_alignment(run_dir: Path, method: str, trained: TrainResult) -> None:
    """align.json: which targets to compare (base first) and where training lives."""
    align = read_align(run_dir)
    align.update(
        {
            "before": BASE_TARGET,
            "after": method,
            "base_model": trained.base_model,
            "train_dirs": sorted({*align.get("train_dirs", []), str(trained.output_dir)}),
        }
    )
    write_atomic(run_dir / ALIGN_FILE, json.dumps(align, indent=2, ensure_ascii=False) + "\n")


def read_align(run_dir: Path) -> dict[str, Any]:
    """align.json as a mapping; empty when it is missing, unreadable or not an object."""
    try:
        data = json.loads((run_dir / ALIGN_FILE).read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
