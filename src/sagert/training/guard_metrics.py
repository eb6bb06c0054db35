"""A guard's thresholds (chosen on the validation split) and its F1 per class and language.

Pure numpy on probabilities and labels, so the choice is tested without a model. A threshold
is the one that maximises F1 on the validation examples of its task (prompt or response);
ties go to the threshold nearest 0.5, and a task without both classes in validation keeps 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from sagert.models.classifier import Array, Task, Thresholds
from sagert.training.guard_data import GuardExample, label_vector

DEFAULT_THRESHOLD = 0.5
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
TASKS: tuple[Task, ...] = ("prompt", "response")


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def f1(self) -> float | None:
        """None when there is nothing positive on either side (F1 is undefined)."""
        denominator = 2 * self.tp + self.fp + self.fn
        return None if denominator == 0 else 2 * self.tp / denominator

    def as_dict(self) -> dict[str, Any]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else None
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        accuracy = (self.tp + self.tn) / self.n if self.n else None
        return {
            "n": self.n,
            "positives": self.tp + self.fn,
            "f1": self.f1(),
            "precision": precision,
            "recall": recall,
            "accuracy": accuracy,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


def counts(truth: ArrayLike, predicted: ArrayLike) -> Counts:
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    return Counts(
        tp=int(np.sum(t & p)),
        fp=int(np.sum(~t & p)),
        fn=int(np.sum(t & ~p)),
        tn=int(np.sum(~t & ~p)),
    )


def best_threshold(truth: ArrayLike, probs: ArrayLike) -> float:
    """The threshold with the best F1 (ties: nearest 0.5); 0.5 without both classes."""
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(probs, dtype=np.float64)
    if t.size == 0 or t.all() or not t.any():
        return DEFAULT_THRESHOLD
    values = np.unique(p)
    # Midpoints between neighbouring scores, and just above/below the extremes.
    candidates = np.concatenate([[values[0]], (values[:-1] + values[1:]) / 2, [values[-1]]])
    best, best_f1 = DEFAULT_THRESHOLD, -1.0
    for threshold in candidates:
        f1 = counts(t, p >= threshold).f1() or 0.0
        nearer = abs(threshold - DEFAULT_THRESHOLD) < abs(best - DEFAULT_THRESHOLD)
        if f1 > best_f1 + 1e-12 or (abs(f1 - best_f1) <= 1e-12 and nearer):
            best, best_f1 = float(threshold), f1
    return best


def choose_thresholds(
    examples: Sequence[GuardExample], probs: Array, labels: list[str]
) -> Thresholds:
    """Unsafe per task, and one threshold for every category (micro F1 over unsafe rows)."""
    chosen: dict[str, float] = {}
    for task in TASKS:
        rows = [i for i, e in enumerate(examples) if e.task == task]
        truth = [examples[i].unsafe for i in rows]
        chosen[task] = best_threshold(truth, [float(probs[i, 0]) for i in rows])
    cat_truth: list[bool] = []
    cat_probs: list[float] = []
    for i, example in enumerate(examples):
        if not example.unsafe:
            continue
        for j, label in enumerate(labels[1:], start=1):
            cat_truth.append(label in example.categories)
            cat_probs.append(float(probs[i, j]))
    chosen["category"] = best_threshold(cat_truth, cat_probs)
    return Thresholds(**chosen)


def predictions(examples: Sequence[GuardExample], probs: Array, thresholds: Thresholds) -> Array:
    """On/off per label; a category is on only when the text is unsafe too."""
    out = np.zeros(probs.shape, dtype=bool)
    for i, example in enumerate(examples):
        unsafe = probs[i, 0] >= thresholds.unsafe(example.task)
        out[i, 0] = unsafe
        out[i, 1:] = unsafe & (probs[i, 1:] >= thresholds.category)
    return out


def report(
    examples: Sequence[GuardExample], probs: Array, labels: list[str], thresholds: Thresholds
) -> dict[str, Any]:
    """F1 (and counts) of unsafe per task, overall and per language; F1 per category."""
    on = predictions(examples, probs, thresholds)
    truth = np.array([label_vector(e, labels) for e in examples], dtype=bool).reshape(
        len(examples), len(labels)
    )
    out: dict[str, Any] = {"n": len(examples), "unsafe": {}, "languages": {}, "categories": {}}
    for task in (*TASKS, "all"):
        rows = [i for i, e in enumerate(examples) if task == "all" or e.task == task]
        out["unsafe"][task] = counts(truth[rows, 0], on[rows, 0]).as_dict()
    for language in sorted({e.language for e in examples}):
        out["languages"][language] = {}
        for task in (*TASKS, "all"):
            rows = [
                i
                for i, e in enumerate(examples)
                if e.language == language and (task == "all" or e.task == task)
            ]
            out["languages"][language][task] = counts(truth[rows, 0], on[rows, 0]).as_dict()
    for j, label in enumerate(labels[1:], start=1):
        out["categories"][label] = counts(truth[:, j], on[:, j]).as_dict()
    return out
