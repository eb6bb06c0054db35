"""Train the refusal_semantic head from src/sagert/judges/data/refusal_labels.csv.

    PYTHONPATH=src python scripts/train_refusal_head.py            # writes the head JSON
    PYTHONPATH=src python scripts/train_refusal_head.py --dry-run  # prints, writes nothing

Fits L2-regularised logistic regression (deterministic: no random state at all) on the
`train` split for each sentence encoder x a few feature sets x regularisation strengths and
keeps the one with the lowest cross-writer log-loss: fitted on one writer's train + validation
rows, scored on the other writer's, both ways, averaged (what a new writer, or a model's own
wording, would meet; the plain validation log-loss rewards features that learn a writer's
habits, such as character n-grams). With one writer only, the
validation log-loss decides. The head is then fitted on all of `train` and the decision
threshold picked on `validation` only (one-standard-error rule, see best_threshold). The
`heldout` split is scored once at the end, for the record: it chooses nothing.

    --encoders NAME[,NAME]   the encoders of the grid (default: every one installed)
    --cache FILE             embeddings reused across runs (keyed by encoder and labels)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sagert.judges.semantic_encoder import (
    ENCODERS,
    MODEL_NAME,
    encoder_available,
    load_pooled_encoder,
    side_by_side,
)
from sagert.judges.semantic_head import HEAD_FILE, Head, PairEmbeddings, embed_pairs, features

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "src" / "sagert" / "judges" / "data" / "refusal_labels.csv"
LANGUAGES = ("en", "es", "fr", "de", "zh")
SCALARS = ("cos", "overlap", "marker", "log_len")
EXTRAS: dict[str, tuple[str, ...]] = {
    "": (),
    "+scalars": SCALARS,
    "+scalars+chars": (*SCALARS, "r_chars"),
}
"""What is added to each embedding set: nothing, the scalar features, and those with the
response's hashed character n-grams (wording cues the English encoder reads poorly in the
other languages)."""
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "mean+pair": ("r_mean", "p_times_r", "p_minus_r"),
    "mean+max": ("r_mean", "r_max"),
    "mean+max+sentences": ("r_mean", "r_max", "s_max", "s_first"),
    "mean+max+sentences+pair": ("r_mean", "r_max", "s_max", "s_first", "p_times_r"),
    "mean+max+sentences+pair2": ("r_mean", "r_max", "s_max", "s_first", "p_times_r", "p_minus_r"),
}
"""r_max is dropped for an encoder that gives one vector per text (its max is its mean)."""
ENCODER_GRID = (
    MODEL_NAME,
    "use-multilingual-v3",
    "multilingual-e5-small",
    "use-multilingual-v3+multilingual-e5-small",
)
"""English MiniLM, the two multilingual encoders alone, and side by side."""
STRENGTHS = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)
"""C as in scikit-learn: the inverse of the L2 penalty."""
SEED = 0  # nothing here is random; kept so the head records it explicitly

F = NDArray[np.float64]


def fit_logistic(x: F, y: F, c: float) -> tuple[F, float]:
    """Class-balanced L2 logistic regression; the bias is not penalised.

    L-BFGS (scipy, a sentence-transformers dependency) from zero: deterministic, and on these
    problems the same optimum as Newton's method to 1e-8 at a fiftieth of the time once the
    features are thousands wide (a Newton step solves a d x d system: 23 s against 0.5 s at
    5,508 columns)."""
    from scipy.optimize import minimize

    n, d = x.shape
    weight = np.where(y == 1, n / (2 * max(1.0, y.sum())), n / (2 * max(1.0, n - y.sum())))

    def objective(beta: F) -> tuple[float, F]:
        w, b = beta[:-1], beta[-1]
        margin = x @ w + b
        p = 1.0 / (1.0 + np.exp(-np.clip(margin, -60, 60)))
        loss = np.sum(weight * (np.logaddexp(0.0, margin) - y * margin)) + 0.5 / c * (w @ w)
        g = weight * (p - y)
        return float(loss), np.concatenate([x.T @ g + w / c, [g.sum()]])

    options = {"maxiter": 10_000, "gtol": 1e-9, "ftol": 1e-15, "maxcor": 30}
    found = minimize(objective, np.zeros(d + 1), jac=True, method="L-BFGS-B", options=options)
    return found.x[:-1], float(found.x[-1])


def log_loss(p: F, y: F) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def best_threshold(p: F, y: F) -> float:
    """The cut nearest 0.5 among those within one standard error of the best accuracy.

    Plain argmax on a validation split of ~150 rows chases noise (it once chose 0.74); the
    one-standard-error rule moves off 0.5 only when validation clearly says so.
    """
    cuts = np.unique(np.concatenate([[0.5], (np.sort(p)[1:] + np.sort(p)[:-1]) / 2]))
    accuracy = np.array([np.mean((p >= t) == y) for t in cuts])
    best = float(accuracy.max())
    near = cuts[accuracy >= best - np.sqrt(best * (1 - best) / len(y))]
    return float(near[np.argmin(np.abs(near - 0.5))])


def report(name: str, p: F, y: F, threshold: float, lang: NDArray[np.str_]) -> dict[str, float]:
    pred = p >= threshold
    out = {"all": float(np.mean(pred == y))}
    for code in LANGUAGES:
        mask = lang == code
        out[code] = float(np.mean(pred[mask] == y[mask])) if mask.any() else float("nan")
    tp = float(np.sum(pred & (y == 1)))
    out["precision_refused"] = tp / max(1.0, float(pred.sum()))
    out["recall_refused"] = tp / max(1.0, float((y == 1).sum()))
    langs = " ".join(f"{c}={out[c]:.3f}" for c in LANGUAGES)
    print(
        f"  {name:10s} n={len(y):4d} acc={out['all']:.3f} | {langs} | "
        f"P(refused)={out['precision_refused']:.3f} R(refused)={out['recall_refused']:.3f}"
    )
    return out


@dataclass(frozen=True)
class Fitted:
    """A head fitted on some rows: their standardisation, the weights, p(refused) of every row."""

    center: F
    scale: F
    weights: F
    bias: float
    p: F


def fit_on(x: F, y: F, rows: NDArray[np.bool_], c: float) -> Fitted:
    """Standardise on `rows`, fit on `rows`, predict every row (the one recipe of the grid, the
    cross-writer check and the shipped head)."""
    center, scale = x[rows].mean(0), x[rows].std(0) + 1e-6
    z = (x - center) / scale
    w, b = fit_logistic(z[rows], y[rows], c)
    return Fitted(center, scale, w, b, 1 / (1 + np.exp(-(z @ w + b))))


def fitted_loss(x: F, y: F, fit: NDArray[np.bool_], score: NDArray[np.bool_], c: float) -> float:
    """Log-loss on `score` rows of the head fitted on `fit` rows."""
    return log_loss(fit_on(x, y, fit, c).p[score], y[score])


def cross_writer_loss(
    x: F, y: F, writer: NDArray[np.str_], usable: NDArray[np.bool_], c: float
) -> float | None:
    """Mean log-loss of each writer's rows under a head fitted on the other writers' (train +
    validation rows only); None with fewer than two writers."""
    names = sorted(set(writer[usable]))
    if len(names) < 2:
        return None
    losses = [
        fitted_loss(x, y, usable & (writer != name), usable & (writer == name), c) for name in names
    ]
    return float(np.mean(losses))


def embed_all(rows: Sequence[dict[str, str]], model: str) -> PairEmbeddings:
    encoder = load_pooled_encoder(model)
    started = time.perf_counter()
    pairs = embed_pairs(encoder, [r["prompt"] for r in rows], [r["response"] for r in rows])
    print(f"embedded {len(rows)} pairs with {model} in {time.perf_counter() - started:.1f}s")
    return pairs


def embeddings(
    rows: Sequence[dict[str, str]], models: Sequence[str], cache: Path | None, labels_sha: str
) -> dict[str, PairEmbeddings]:
    """Each model's embeddings of the labelled set, from the cache where it has them."""
    return cached_embeddings(models, cache, labels_sha, lambda model: embed_all(rows, model))


def cached_embeddings(
    models: Sequence[str],
    cache: Path | None,
    key: str,
    embed: Callable[[str], PairEmbeddings],
) -> dict[str, PairEmbeddings]:
    """`embed(model)` for each model, through the cache file (entries keyed by model and
    `key`, the labels' hash); "a+b" is put together from a's and b's as
    semantic_encoder.load_pooled_encoder would make it (harm's trainer shares this)."""
    stored: dict[str, PairEmbeddings] = {}
    if cache is not None and cache.exists():
        stored = pickle.loads(cache.read_bytes())  # a file these scripts wrote: trusted

    def one(model: str) -> PairEmbeddings:
        name = f"{model}@{key}"
        if name not in stored:
            stored[name] = embed(model)
            if cache is not None:
                cache.write_bytes(pickle.dumps(stored))
        return stored[name]

    return {model: joined([one(part) for part in model.split("+")]) for model in models}


def joined(parts: Sequence[PairEmbeddings]) -> PairEmbeddings:
    """The encoders' stored embeddings side by side, block by block: exact, since every block is
    a row pick or an elementwise max of the encoder's vectors, and scaling commutes with both."""
    if len(parts) == 1:
        return parts[0]

    def block(name: str) -> NDArray[np.float32]:
        return side_by_side([getattr(p, name) for p in parts])

    return PairEmbeddings(
        prompts=parts[0].prompts,
        responses=parts[0].responses,
        p_mean=block("p_mean"),
        r_mean=block("r_mean"),
        r_max=block("r_max"),
        s_max=block("s_max"),
        s_first=block("s_first"),
    )


def blocks_for(model: str, blocks: tuple[str, ...]) -> tuple[str, ...]:
    """r_max is dropped for an encoder that gives one vector per text (its max is its mean)."""
    return blocks if model == MODEL_NAME else tuple(b for b in blocks if b != "r_max")


def grid(models: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(encoder, feature blocks) of every candidate, each once."""
    out: dict[tuple[str, tuple[str, ...]], None] = {}
    for model in models:
        for emb in FEATURE_SETS.values():
            kept = blocks_for(model, emb)
            for extra in EXTRAS.values():
                out[(model, kept + extra)] = None
    return list(out)


def grid_models(names: str | None) -> list[str]:
    wanted = names.split(",") if names else list(ENCODER_GRID)
    for name in wanted:
        for part in name.split("+"):
            if part not in ENCODERS:
                sys.exit(f"unknown encoder {part!r}; known: {', '.join(ENCODERS)}")
    models = [m for m in wanted if encoder_available(m)]
    for name in set(wanted) - set(models):
        print(f"skipped {name}: not installed (pip install 'sagert[embed]')")
    if not models:
        sys.exit("no encoder of the grid is installed")
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print only, write no head")
    parser.add_argument("--out", type=Path, default=HEAD_FILE)
    parser.add_argument("--encoders", help="comma-separated encoder names (default: the grid)")
    parser.add_argument("--cache", type=Path, help="pickle of embeddings, reused if present")
    args = parser.parse_args()

    raw = LABELS.read_bytes()
    rows = list(csv.DictReader(raw.decode("utf-8").splitlines(keepends=True)))
    labels_sha = hashlib.sha256(raw).hexdigest()
    embedded = embeddings(rows, grid_models(args.encoders), args.cache, labels_sha)
    y = np.array([r["label"] == "refused" for r in rows], np.float64)
    split = np.array([r["split"] for r in rows])
    lang = np.array([r["language"] for r in rows])
    train, val, held = (split == s for s in ("train", "validation", "heldout"))

    writer = np.array([r.get("writer", "1") for r in rows])
    candidates: list[tuple[float, str, str, tuple[str, ...], float]] = []
    print("log-loss (validation accuracy at 0.5), embeddings alone and with extra features:")
    for model, blocks in grid(list(embedded)):
        x = features(blocks, embedded[model]).astype(np.float64)
        for c in STRENGTHS:
            p = fit_on(x, y, train, c).p
            loss = log_loss(p[val], y[val])
            crossed = cross_writer_loss(x, y, writer, ~held, c)
            acc_val = np.mean((p[val] >= 0.5) == y[val])
            label = "+".join(blocks)
            across = f" cross-writer loss={crossed:.3f}" if crossed is not None else ""
            print(f"  {model} {label} C={c} val loss={loss:.3f} acc={acc_val:.3f}{across}")
            candidates.append((loss if crossed is None else crossed, model, label, blocks, c))

    loss, model, label, blocks, c = min(candidates, key=lambda t: t[0])
    x = features(blocks, embedded[model]).astype(np.float64)
    fitted = fit_on(x, y, train, c)
    p = fitted.p
    threshold = best_threshold(p[val], y[val])
    rule = "cross-writer" if len(set(writer[~held])) > 1 else "validation"
    print(f"chosen: {model} {label} C={c} ({rule} log-loss {loss:.3f}), threshold {threshold:.3f}")
    results = {
        s: report(s, p[m], y[m], threshold, lang[m])
        for s, m in (("train", train), ("validation", val), ("heldout", held))
    }
    head = Head(
        blocks=blocks,
        center=fitted.center.astype(np.float32),
        scale=fitted.scale.astype(np.float32),
        weights=fitted.weights.astype(np.float32),
        bias=fitted.bias,
        threshold=threshold,
        meta={
            "model": model,
            "labels_sha256": labels_sha,
            "feature_set": label,
            "C": c,
            "chosen_by": f"{rule} log-loss",
            "seed": SEED,
            "train_rows": int(train.sum()),
            "accuracy": {s: {k: round(v, 4) for k, v in r.items()} for s, r in results.items()},
        },
    )
    # The shipped head must reproduce its own numbers: check through the numpy-only path.
    again = head.probability(x.astype(np.float32))
    if not np.allclose(again, p, atol=1e-4):
        sys.exit("the head's own probabilities differ from training's")
    if args.dry_run:
        return
    args.out.write_text(json.dumps(head.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
