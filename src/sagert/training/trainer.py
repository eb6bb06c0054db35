"""`sagert train`: DPO (TRL's DPOTrainer) or SimPO (TRL's CPO trainer, loss_type=simpo).

The data is a run's TRL export; prompts are split by their seed prompt, so attacked variants
of one request never sit on both sides, and the held-out part is written for evaluation.
Checkpoints go to the output folder and a re-run resumes from the last one. The loss of every
logged step goes to `train_log.jsonl` (the report's loss curve). Learning rate, beta, epochs
and max length come from the recipe (settings/recipes.py: explicit settings, a preset, or the
base model's size). With `train.lora` only an adapter is trained; `final/` holds the adapter
merged into the weights (the adapter itself in `adapter/`), so every later step reads a full
model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.models.embedded import embedded_gguf_path
from sagert.settings.recipes import ResolvedRecipe
from sagert.settings.train import TrainSettings
from sagert.store.paths import RunPaths
from sagert.store.run import write_atomic
from sagert.training.data import training_pairs
from sagert.training.gguf import gguf_to_folder
from sagert.training.hf_args import library_versions, warmup_args
from sagert.training.lora import lora_config
from sagert.training.model_size import count_parameters
from sagert.training.split import split_pairs

LOG_FILE = "train_log.jsonl"
RESULT_FILE = "train_result.json"
ADAPTER_DIR = "adapter"


@dataclass(frozen=True)
class TrainResult:
    """A finished training: where the model is, what it was trained from, how far."""

    output_dir: Path
    final_model: Path
    base_model: str
    steps: int
    train_loss: float
    train_pairs: int
    heldout_pairs: int
    dropped_too_long: int = 0
    recipe: str = ""
    """Each recipe value and where it came from (ResolvedRecipe.describe)."""


def resolve_base_model(name: str, cache_dir: Path) -> str:
    """A folder transformers can train: the embedded GGUF is converted once."""
    if name == "embedded":
        return str(gguf_to_folder(embedded_gguf_path(), cache_dir / "smollm2-135m-instruct"))
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise UserError(
                "GGUF file not found",
                file=path,
                field="train.base_model",
                fix="give an existing .gguf, a model folder, or embedded",
            )
        return str(gguf_to_folder(path, cache_dir / path.stem))
    if path.exists():
        return str(path)
    return name  # a Hub id: transformers downloads it when the machine is online


def precision_args(cuda: bool) -> dict[str, bool]:
    """TRL's configs default to bf16 autocast even on a CPU, where a CPU without bf16 units
    runs every matmul in emulated bf16: a SimPO step on SmolLM2 took 420 s instead of 20 s
    (docs/training.md). On a GPU TRL's choice stands."""
    return {} if cuda else {"bf16": False, "fp16": False}


def train(export: Path, settings: TrainSettings, output_dir: Path) -> TrainResult:
    try:
        import datasets
        import torch
        import transformers
    except ImportError:
        raise UserError(
            "training needs the [train] extra", fix="pip install 'sagert[train]'"
        ) from None
    train_path, _, n_train, n_held = split_pairs(export, output_dir, settings.heldout_fraction)
    if n_train == 0:
        raise UserError("no training pairs", file=export, fix="generate more pairs first")
    dataset = datasets.load_dataset("json", data_files=str(train_path), split="train")
    base = resolve_base_model(settings.base_model, output_dir.parent / "base-models")
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(base)
        tokenizer = transformers.AutoTokenizer.from_pretrained(base)
    except OSError as exc:
        raise UserError(
            f"cannot load base model {base!r}: {str(exc).splitlines()[0]}",
            field="train.base_model",
            fix="give a local folder or .gguf (offline machines cannot fetch ids)",
        ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    recipe = settings.recipe(count_parameters(Path(base)) or int(model.num_parameters()))
    dataset, too_long = training_pairs(dataset, tokenizer, recipe.max_length)
    if len(dataset) == 0:
        raise UserError(
            f"all {too_long} training pairs have prompts too long for max_length",
            field="train.max_length",
            fix=f"raise it above {recipe.max_length}",
        )
    cuda = torch.cuda.is_available()
    common: dict[str, Any] = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "learning_rate": recipe.learning_rate,
        "beta": recipe.beta,
        "lr_scheduler_type": settings.lr_scheduler,
        **warmup_args(settings.warmup_ratio),
        "num_train_epochs": recipe.epochs,
        "max_steps": settings.max_steps or -1,
        "max_length": recipe.max_length,
        "save_steps": settings.save_steps,
        "save_strategy": "steps",
        "save_total_limit": 1,  # a checkpoint is a model and its optimizer state (1.5 GB at 135M)
        "logging_steps": 1,
        "report_to": [],
        "seed": settings.seed,
        "use_cpu": not cuda,
        **precision_args(cuda),
    }
    peft_config = lora_config(settings.lora)
    log = _LossLog(output_dir / LOG_FILE)
    if settings.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        trainer: Any = DPOTrainer(
            model=model,
            args=DPOConfig(**common),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[log.callback()],
        )
    else:
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        cpo = CPOConfig(**common, loss_type="simpo", cpo_alpha=0.0, simpo_gamma=recipe.simpo_gamma)
        trainer = CPOTrainer(
            model=model,
            args=cpo,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[log.callback()],
        )
    resume = _last_checkpoint(output_dir)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if log.diverged:
        raise UserError(
            f"training diverged: {log.diverged}; no model saved",
            file=output_dir / LOG_FILE,
            fix="lower train.learning_rate, or remove the folder's checkpoints and train again",
        )
    loss = float(result.training_loss)
    if not math.isfinite(loss):
        raise UserError(f"training diverged (loss {loss})", fix="lower the learning rate")
    final = _save(trainer, tokenizer, output_dir, lora=settings.lora is not None)
    used = n_train - too_long
    steps = int(result.global_step)
    done = TrainResult(
        output_dir, final, base, steps, loss, used, n_held, too_long, recipe.describe()
    )
    write_result(done, settings, recipe)
    drop_checkpoints(output_dir)  # finished: only an unfinished training resumes from them
    return done


def _save(trainer: Any, tokenizer: Any, output_dir: Path, *, lora: bool) -> Path:
    """`final/`: the trained model, a LoRA adapter merged into its base (kept in adapter/)."""
    final = output_dir / "final"
    if lora:
        trainer.save_model(str(output_dir / ADAPTER_DIR))
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        merged.save_pretrained(str(final), safe_serialization=True)
    else:
        trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    return final


def train_dir(run_dir: Path, settings: TrainSettings) -> Path:
    """Where a training writes: train.output_dir, else runs/<name>/train/<method>."""
    return Path(settings.output_dir or RunPaths(run_dir).train_dir(settings.method))


def write_result(
    result: TrainResult, settings: TrainSettings, recipe: ResolvedRecipe | None = None
) -> None:
    """What was trained, from what, how far: read by `sagert align` and the report."""
    data = {
        "method": settings.method,
        "base_model": result.base_model,
        "final_model": str(result.final_model),
        "steps": result.steps,
        "train_loss": result.train_loss,
        "train_pairs": result.train_pairs,
        "heldout_pairs": result.heldout_pairs,
        "dropped_too_long": result.dropped_too_long,
        "settings": settings.model_dump(mode="json"),
        "recipe": result.recipe,
        "recipe_values": recipe.model_dump(mode="json") if recipe else None,
        "versions": library_versions(),
    }
    write_atomic(result.output_dir / RESULT_FILE, json.dumps(data, indent=2) + "\n")


def finished_training(out: Path, settings: TrainSettings) -> TrainResult | None:
    """The training already done in `out` with these settings, so it need not run again."""
    try:
        data = json.loads((out / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    final = Path(data.get("final_model", ""))
    has_model = (final / "config.json").is_file() or (final / "adapter_config.json").is_file()
    if data.get("settings") != settings.model_dump(mode="json") or not has_model:
        return None
    return TrainResult(
        out,
        final,
        str(data["base_model"]),
        int(data["steps"]),
        float(data["train_loss"]),
        int(data["train_pairs"]),
        int(data["heldout_pairs"]),
        int(data.get("dropped_too_long", 0)),
        str(data.get("recipe") or ""),
    )


def drop_checkpoints(output_dir: Path) -> int:
    """Delete a finished training's checkpoints (a model and its optimizer state each): only an
    unfinished training resumes from them. Returns how many were deleted."""
    import shutil

    found = [p for p in output_dir.glob("checkpoint-*") if p.is_dir()]
    for path in found:
        shutil.rmtree(path)
    return len(found)


def _last_checkpoint(output_dir: Path) -> Path | None:
    checkpoints = sorted(
        output_dir.glob("checkpoint-*"),
        key=lambda p: int(p.name.split("-")[-1]) if p.name[11:].isdigit() else -1,
    )
    return checkpoints[-1] if checkpoints else None


class _LossLog:
    """Appends every logged step (loss, learning rate...) as one JSON line; stops training at
    the first non-finite loss or gradient norm (NaN weights would be saved as a model)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.diverged: str | None = None

    def callback(self) -> Any:
        import transformers

        log = self

        class Callback(transformers.TrainerCallback):  # type: ignore[misc]
            def on_log(
                self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
            ) -> None:
                if not logs:
                    return
                with log.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"step": state.global_step, **logs}) + "\n")
                for key in ("loss", "grad_norm"):
                    value = logs.get(key)
                    if isinstance(value, float) and not math.isfinite(value):
                        log.diverged = f"{key} {value} at step {state.global_step}"
                        control.should_training_stop = True

        return Callback()
