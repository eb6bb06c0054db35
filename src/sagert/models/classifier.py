"""A trained guard's folder: its card (`guard.json`) and the classifier that reads it.

Training (training/guard.py) and the `guard` judge (judges/guard.py) are sibling layers; both
need the same input text and the same probabilities, so both come from here. The card keeps
the input template's source, the labels and the thresholds chosen on the validation split:
a guard folder judges exactly as it was trained, whatever templates the judging run has.
torch and transformers are imported only when a classifier is loaded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sagert.core.errors import UserError

CARD_FILE = "guard.json"
UNSAFE = "unsafe"
"""The first label of every guard: the text is unsafe (a harmful request or harmful help)."""
Task = Literal["prompt", "response"]
Array = np.ndarray[Any, np.dtype[np.float32]]


class Thresholds(BaseModel):
    """p(label) from which a label is on, chosen on the validation split."""

    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(default=0.5, ge=0.0, le=1.0)
    response: float = Field(default=0.5, ge=0.0, le=1.0)
    category: float = Field(default=0.5, ge=0.0, le=1.0)

    def unsafe(self, task: Task) -> float:
        return self.prompt if task == "prompt" else self.response


class GuardCard(BaseModel):
    """What a guard folder is: labels, thresholds, and how a text becomes its input."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str] = Field(min_length=1)
    """`unsafe` first, then the categories (multi-label: one sigmoid each)."""
    thresholds: Thresholds = Field(default_factory=Thresholds)
    input_template: str
    """The jinja2 source that renders (prompt, response, turns) as the classifier's input."""
    max_length: int = Field(ge=16)
    prompt_chars: int = Field(ge=1)
    response_chars: int = Field(ge=1)
    base_model: str = ""

    @property
    def categories(self) -> list[str]:
        return self.labels[1:]


def read_card(folder: Path) -> GuardCard:
    """The card of a guard folder; a missing or broken one is one line naming the file."""
    path = folder / CARD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return GuardCard.model_validate(data)
    except OSError:
        raise UserError(
            "not a guard folder (no guard.json)",
            file=folder,
            fix="give the final/ folder of `sagert train --method guard`",
        ) from None
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"unreadable guard card: {first}", file=path, fix="train again") from None


def write_card(folder: Path, card: GuardCard) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CARD_FILE).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class GuardText:
    """One thing to classify: a prompt alone, or a prompt and its response."""

    prompt: str
    response: str | None = None
    turns: Sequence[dict[str, str]] = ()

    @property
    def task(self) -> Task:
        return "prompt" if self.response is None else "response"


class InputRenderer:
    """The card's template, compiled once (strict: a missing value is an error)."""

    def __init__(self, card: GuardCard) -> None:
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        self._template = env.from_string(card.input_template)
        self._card = card

    def __call__(self, item: GuardText) -> str:
        card = self._card
        response = None if item.response is None else item.response[: card.response_chars]
        turns = [
            {"role": t["role"], "content": t["content"][: card.prompt_chars]} for t in item.turns
        ]
        text = self._template.render(
            prompt=item.prompt[: card.prompt_chars], response=response, turns=turns
        )
        return text.strip()


def sigmoid(logits: Any) -> Array:
    values = np.asarray(logits, dtype=np.float64)
    probs: Array = (1.0 / (1.0 + np.exp(-values))).astype(np.float32)
    return probs


class GuardClassifier:
    """p(label) for each text: the card's template, the tokenizer, one forward pass per batch.

    `probabilities` blocks (a thread's work); one forward pass at a time (torch uses every
    core already). `model` and `tokenizer` may be given (training scores its own model).
    """

    def __init__(
        self, card: GuardCard, model: Any, tokenizer: Any, *, batch_size: int = 16
    ) -> None:
        self.card = card
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.render = InputRenderer(card)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, *, device: str = "auto", batch_size: int = 16) -> GuardClassifier:
        card = read_card(folder)
        try:
            import torch
            import transformers
        except ImportError:
            raise UserError(
                "the guard judge needs torch and transformers", fix="pip install 'sagert[train]'"
            ) from None
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
            model = transformers.AutoModelForSequenceClassification.from_pretrained(str(folder))
        except (OSError, ValueError) as exc:
            raise UserError(
                f"cannot load the guard model: {str(exc).splitlines()[0]}",
                file=folder,
                fix="give the final/ folder of `sagert train --method guard`",
            ) from None
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model.to(device)
        model.eval()
        return cls(card, model, tokenizer, batch_size=batch_size)

    def probabilities(self, items: Sequence[GuardText]) -> Array:
        """(len(items), len(labels)) probabilities, in the order given."""
        if not items:
            return np.zeros((0, len(self.card.labels)), np.float32)
        import torch

        texts = [self.render(item) for item in items]
        out: list[Array] = []
        device = next(self.model.parameters()).device
        with self._lock, torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    texts[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.card.max_length,
                    return_tensors="pt",
                ).to(device)
                logits = self.model(**batch).logits.float().cpu().numpy()
                out.append(sigmoid(logits))
        return np.concatenate(out, axis=0)
