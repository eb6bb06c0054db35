"""`sagert train --method guard`: a sequence classifier (safe/unsafe + categories, multi-label).

The base model (the embedded SmolLM2 by default; any transformers folder) gets a
classification head with one sigmoid per label, trained with binary cross-entropy by
transformers' Trainer. Only the top `train_layers` blocks and what follows them (final norm,
head) are trained, so a small set trains on a CPU in minutes. The thresholds are chosen on the
validation split after training; its F1 per class and per language goes to `metrics.json`
beside the model and in it. A base that is itself a guard folder is trained further with its
own labels (the guard loop's rounds). Checkpoints resume an interrupted training.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sagert.core.errors import UserError
from sagert.models.classifier import CARD_FILE, GuardCard, GuardClassifier, read_card, write_card
from sagert.settings.guard import GuardSettings
from sagert.store.run import write_atomic
from sagert.training.guard_data import GuardExample, label_vector, read_examples
from sagert.training.guard_metrics import choose_thresholds, report
from sagert.training.hf_args import by_length_args, library_versions, warmup_args
from sagert.training.trainer import resolve_base_model

LOG_FILE = "train_log.jsonl"
RESULT_FILE = "guard_result.json"
METRICS_FILE = "metrics.json"


class GuardRequest(BaseModel):
    """What one guard training gets (it crosses into the child process as JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_file: str
    validation_file: str
    labels: list[str]
    input_template: str
    settings: GuardSettings
    output_dir: str
    base_model: str | None = None
    """Overrides settings.base_model (a round of the loop starts from the last guard)."""
    examples_sha256: str = ""
    """Of the two example files: a finished training with other data is not reused."""


class GuardResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output_dir: str
    final_model: str
    base_model: str
    steps: int
    train_loss: float
    train_examples: int
    validation_examples: int
    labels: list[str]
    thresholds: dict[str, float]
    validation_f1: float | None
    request: dict[str, Any]


def train_guard(request: GuardRequest) -> GuardResult:
    try:
        import torch
        import transformers
    except ImportError:
        raise UserError(
            "training a guard needs the [train] extra", fix="pip install 'sagert[train]'"
        ) from None
    settings = request.settings
    out = Path(request.output_dir)
    train_rows = read_examples(Path(request.train_file))
    valid_rows = read_examples(Path(request.validation_file))
    if not train_rows:
        raise UserError("no guard training examples", file=request.train_file, fix="add data")
    base = _base(request, out)
    labels = request.labels
    tokenizer, model = _load(transformers, base, labels)
    card = GuardCard(
        labels=labels,
        input_template=request.input_template,
        max_length=settings.max_length,
        prompt_chars=settings.prompt_chars,
        response_chars=settings.response_chars,
        base_model=base,
    )
    trained = freeze_below(model, settings.train_layers)
    scorer = GuardClassifier(card, model, tokenizer, batch_size=settings.batch_size)
    data = _encode(train_rows, scorer, labels)
    use_cpu = settings.device == "cpu" or not torch.cuda.is_available()
    args = transformers.TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps or -1,
        lr_scheduler_type="linear",
        logging_steps=1,
        save_steps=settings.save_steps,
        save_strategy="steps",
        save_total_limit=1,
        report_to=[],
        seed=settings.seed,
        use_cpu=use_cpu,
        **warmup_args(settings.warmup_ratio),
        **by_length_args(),
    )
    log = _LossLog(out / LOG_FILE)
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=data,
        data_collator=transformers.DataCollatorWithPadding(tokenizer),
        callbacks=[log.callback(transformers)],
    )
    resume = _last_checkpoint(out)
    if resume is None:
        (out / LOG_FILE).unlink(missing_ok=True)  # a fresh training's curve starts empty
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    loss = float(result.training_loss)
    if log.diverged or not math.isfinite(loss):
        raise UserError(
            f"guard training diverged: {log.diverged or f'loss {loss}'}; no model saved",
            file=out / LOG_FILE,
            fix="lower guard.learning_rate, or remove the folder's checkpoints and train again",
        )
    model.eval()
    probs = scorer.probabilities([e.text() for e in valid_rows])
    card = card.model_copy(update={"thresholds": choose_thresholds(valid_rows, probs, labels)})
    metrics = {
        "split": "validation",
        "thresholds": card.thresholds.model_dump(),
        "labels": labels,
        "train_examples": len(train_rows),
        "trained_parameters": trained,
        "versions": library_versions(),
        **report(valid_rows, probs, labels, card.thresholds),
    }
    final = out / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    write_card(final, card)
    for folder in (out, final):
        write_atomic(folder / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    for checkpoint in out.glob("checkpoint-*"):
        shutil.rmtree(checkpoint, ignore_errors=True)  # the final model is saved: no resume
    done = GuardResult(
        output_dir=str(out),
        final_model=str(final),
        base_model=base,
        steps=int(result.global_step),
        train_loss=loss,
        train_examples=len(train_rows),
        validation_examples=len(valid_rows),
        labels=labels,
        thresholds=card.thresholds.model_dump(),
        validation_f1=metrics["unsafe"]["all"]["f1"],
        request=request.model_dump(mode="json"),
    )
    write_atomic(out / RESULT_FILE, done.model_dump_json(indent=2) + "\n")
    return done


def finished_guard(request: GuardRequest) -> GuardResult | None:
    """The training already done in the request's folder with this very request."""
    out = Path(request.output_dir)
    try:
        done = GuardResult.model_validate_json((out / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    final = Path(done.final_model)
    if done.request != request.model_dump(mode="json") or not (final / CARD_FILE).is_file():
        return None
    return done


def _base(request: GuardRequest, out: Path) -> str:
    name = request.base_model or request.settings.base_model
    path = Path(name).expanduser()
    if (path / CARD_FILE).is_file():
        card = read_card(path)
        if card.labels != request.labels:
            raise UserError(
                "the base guard has other labels than this training",
                file=path,
                fix=f"train from a base model, or keep its labels: {', '.join(card.labels)}",
            )
        return str(path)
    return resolve_base_model(name, out.parent / "base-models")


def _load(transformers: Any, base: str, labels: list[str]) -> tuple[Any, Any]:
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(base)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=len(labels),
            problem_type="multi_label_classification",
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    except (OSError, ValueError) as exc:
        raise UserError(
            f"cannot load base model {base!r}: {str(exc).splitlines()[0]}",
            field="guard.base_model",
            fix="give a local folder or .gguf (offline machines cannot fetch ids)",
        ) from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model


def freeze_below(model: Any, train_layers: int | None) -> int:
    """Freeze every parameter that comes before the top `train_layers` blocks (embeddings and
    the lower blocks); what comes after (the top blocks, final norm, pooler, head) trains.
    Returns the number of trained parameters."""
    params = list(model.named_parameters())
    if train_layers is not None:
        blocks = _blocks(model)
        if blocks is None:
            raise UserError(
                "cannot find the model's transformer blocks to freeze",
                field="guard.train_layers",
                fix="set guard.train_layers: null (train every layer)",
            )
        keep = min(train_layers, len(blocks))
        first = (
            id(next(iter(blocks[len(blocks) - keep].parameters())))
            if keep
            else _first_after(model, blocks)
        )
        frozen = True
        for _, param in params:
            if id(param) == first:
                frozen = False
            param.requires_grad = not frozen
    return sum(p.numel() for _, p in params if p.requires_grad)


def _blocks(model: Any) -> Any:
    """The longest ModuleList of the base model: its transformer blocks."""
    import torch

    lists = [m for m in model.base_model.modules() if isinstance(m, torch.nn.ModuleList)]
    return max(lists, key=len) if lists else None


def _first_after(model: Any, blocks: Any) -> int:
    """The first parameter after the last block (a final norm or the head)."""
    inside = {id(p) for p in blocks.parameters()}
    seen_block = False
    for _, param in model.named_parameters():
        if id(param) in inside:
            seen_block = True
        elif seen_block:
            return id(param)
    raise UserError("no parameter after the blocks", field="guard.train_layers", fix="use 1")


def _encode(rows: list[GuardExample], scorer: GuardClassifier, labels: list[str]) -> list[Any]:
    texts = [scorer.render(e.text()) for e in rows]
    enc = scorer.tokenizer(texts, truncation=True, max_length=scorer.card.max_length)
    return [
        {
            "input_ids": enc["input_ids"][i],
            "attention_mask": enc["attention_mask"][i],
            "labels": label_vector(row, labels),
        }
        for i, row in enumerate(rows)
    ]


def _last_checkpoint(out: Path) -> Path | None:
    numbered = [p for p in out.glob("checkpoint-*") if p.name[11:].isdigit()]
    return max(numbered, key=lambda p: int(p.name[11:])) if numbered else None


class _LossLog:
    """Every logged step as one JSON line; stops at the first non-finite loss."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.diverged: str | None = None

    def callback(self, transformers: Any) -> Any:
        log = self

        class Callback(transformers.TrainerCallback):  # type: ignore[misc]
            def on_log(
                self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
            ) -> None:
                if not logs:
                    return
                with log.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"step": state.global_step, **logs}) + "\n")
                value = logs.get("loss")
                if isinstance(value, float) and not math.isfinite(value):
                    log.diverged = f"loss {value} at step {state.global_step}"
                    control.should_training_stop = True

        return Callback()
