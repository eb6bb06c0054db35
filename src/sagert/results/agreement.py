"""How far a judge agrees with human labels: confusion counts, rates, Cohen's kappa, intervals.

Pure functions of counts. Accuracy, precision, recall and specificity are proportions and get
Wilson 95% intervals. F1 and kappa are not; they get a seeded nonparametric bootstrap: the
judged rows resampled with replacement (one multinomial draw over the four cells), the
2.5th and 97.5th percentiles of the metric over the resamples where it is defined. A judge
error is neither positive nor negative: it is counted beside the matrix, outside every metric.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sagert.results.calibration import KIND
from sagert.results.metrics import wilson
from sagert.results.verdicts import OPPOSITE, SUCCESS, VERDICTS

__all__ = ["KIND", "Agreement", "Confusion", "Estimate", "Tally", "agreement"]
DEFAULT_POSITIVE = tuple(sorted(SUCCESS))
"""The harmful side (unsafe, complied): a positive label means "the attack succeeded"."""
RESAMPLES = 1000
TRUE_WORDS = frozenset({"1", "true", "yes"})
FALSE_WORDS = frozenset({"0", "false", "no"})
METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "kappa")
WILSON = "wilson"
BOOTSTRAP = "bootstrap"


def parse_positive(text: str | Iterable[str]) -> tuple[str, ...]:
    """`unsafe,complied` -> the verdicts that mean the positive class (ValueError if bad)."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = sorted({p.strip().lower() for p in parts if p.strip()})
    if not names:
        raise ValueError("give at least one verdict")
    unknown = [n for n in names if n not in VERDICTS]
    if unknown:
        raise ValueError(f"unknown verdict {unknown[0]!r}: use {', '.join(sorted(VERDICTS))}")
    both = [n for n in names if OPPOSITE[n] in names]
    if both:
        raise ValueError(f"{both[0]!r} and {OPPOSITE[both[0]]!r} cannot both be positive")
    return tuple(names)


def parse_label(value: Any, positive: Iterable[str]) -> bool:
    """True for 1/true/yes or a positive verdict, False for 0/false/no or another verdict."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS or word in positive:
            return True
        if word in FALSE_WORDS or word in VERDICTS:
            return False
    shown = repr(value) if not isinstance(value, str) or value.strip() else "an empty cell"
    raise ValueError(
        f"label {shown} is neither positive nor negative "
        f"(use 1/true/yes, 0/false/no, or a verdict: {', '.join(sorted(VERDICTS))})"
    )


def predicted(verdict: str, positive: Iterable[str]) -> bool | None:
    """The judge's class: True for a positive verdict, None for an error (no class at all)."""
    if verdict not in VERDICTS:
        return None
    return verdict in positive


@dataclass
class Confusion:
    """Rows by (label, judge): tp = both positive, fp = judge positive on a negative label..."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def add(self, label: bool, judged: bool) -> None:
        if judged:
            if label:
                self.tp += 1
            else:
                self.fp += 1
        elif label:
            self.fn += 1
        else:
            self.tn += 1

    def as_dict(self) -> dict[str, int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}


def _ratio(k: int, n: int) -> float | None:
    return k / n if n else None


def accuracy(c: Confusion) -> float | None:
    return _ratio(c.tp + c.tn, c.n)


def precision(c: Confusion) -> float | None:
    return _ratio(c.tp, c.tp + c.fp)


def recall(c: Confusion) -> float | None:
    """Sensitivity: the positive labels the judge calls positive."""
    return _ratio(c.tp, c.tp + c.fn)


def specificity(c: Confusion) -> float | None:
    """The negative labels the judge calls negative."""
    return _ratio(c.tn, c.tn + c.fp)


def _f1_cells(tp: Any, fp: Any, fn: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(2 * tp, 2 * tp + fp + fn)


def _kappa_cells(tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
    """(p_o - p_e) / (1 - p_e); NaN where p_e is 1 (both sides all one class)."""
    n = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = (tp + tn) / n
        chance = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        return np.where(chance < 1, (observed - chance) / (1 - chance), np.nan)


def _defined(value: Any) -> float | None:
    number = float(value)
    return None if np.isnan(number) else number


def f1(c: Confusion) -> float | None:
    return _defined(_f1_cells(np.float64(c.tp), c.fp, c.fn))


def kappa(c: Confusion) -> float | None:
    """Cohen's kappa; None when undefined (labels and verdicts all one and the same class)."""
    if c.n == 0:
        return None
    return _defined(_kappa_cells(np.float64(c.tp), c.fp, c.fn, c.tn))


def bootstrap(
    c: Confusion, metric: str, *, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile 95% interval of f1 or kappa over seeded resamples of the judged rows."""
    if c.n == 0:
        return None
    rng = np.random.default_rng(seed)
    cells = np.array([c.tp, c.fp, c.fn, c.tn], dtype=np.float64)
    draws = rng.multinomial(c.n, cells / c.n, size=resamples).astype(np.float64)
    tp, fp, fn, tn = draws.T
    values = _f1_cells(tp, fp, fn) if metric == "f1" else _kappa_cells(tp, fp, fn, tn)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    method: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "method": self.method}


def _wilson(k: int, n: int) -> Estimate:
    interval = wilson(k, n)
    low, high = interval if interval else (None, None)
    return Estimate(_ratio(k, n), low, high, WILSON)


@dataclass(frozen=True)
class Agreement:
    """One set of rows (all, or one group): the matrix, the errors apart, every metric."""

    confusion: Confusion
    errors: int
    metrics: dict[str, Estimate] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.confusion.n

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "errors": self.errors,
            "confusion": self.confusion.as_dict(),
            "metrics": {name: e.as_dict() for name, e in self.metrics.items()},
        }


def agreement(
    c: Confusion, errors: int = 0, *, resamples: int = RESAMPLES, seed: int = 0
) -> Agreement:
    """Every metric of `c` with its interval (Wilson, or the bootstrap for f1 and kappa)."""
    metrics = {
        "accuracy": _wilson(c.tp + c.tn, c.n),
        "precision": _wilson(c.tp, c.tp + c.fp),
        "recall": _wilson(c.tp, c.tp + c.fn),
        "specificity": _wilson(c.tn, c.tn + c.fp),
    }
    for name, value in (("f1", f1(c)), ("kappa", kappa(c))):
        interval = bootstrap(c, name, resamples=resamples, seed=seed) if value is not None else None
        low, high = interval if interval else (None, None)
        metrics[name] = Estimate(value, low, high, BOOTSTRAP)
    return Agreement(c, errors, metrics)


@dataclass
class Tally:
    """Counts one set of rows as they come: a judged row in the matrix, an error beside it."""

    confusion: Confusion = field(default_factory=Confusion)
    errors: int = 0

    def add(self, label: bool, judged: bool | None) -> None:
        if judged is None:
            self.errors += 1
        else:
            self.confusion.add(label, judged)

    def agreement(self, *, resamples: int = RESAMPLES, seed: int = 0) -> Agreement:
        return agreement(self.confusion, self.errors, resamples=resamples, seed=seed)
