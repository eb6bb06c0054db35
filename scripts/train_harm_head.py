"""Train the harm_semantic head from src/sagert/judges/data/harm_labels.csv.

    PYTHONPATH=src python scripts/train_harm_head.py            # writes the head JSON
    PYTHONPATH=src python scripts/train_harm_head.py --dry-run  # prints, writes nothing

The fitting is train_refusal_head.py's (imported, not copied): class-balanced L2 logistic
regression (deterministic), the one-standard-error threshold rule, the encoder grid and its
embedding cache. Fitted on the `train` split for each encoder x feature set x regularisation
strength; the one with the lowest validation log-loss is kept and its threshold chosen on
`validation` only. The `heldout` split is scored once at the end, for the record: it chooses
nothing.

    --encoders NAME[,NAME]   the encoders of the grid (default: every one installed)
    --cache FILE             embeddings reused across runs (keyed by encoder and labels)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling training script

from train_refusal_head import (
    best_threshold,
    blocks_for,
    cached_embeddings,
    fit_on,
    grid_models,
    log_loss,
)

from sagert.judges.harm_semantic import HEAD_FILE
from sagert.judges.semantic_encoder import load_pooled_encoder
from sagert.judges.semantic_head import Head, PairEmbeddings, embed_texts, features

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "src" / "sagert" / "judges" / "data" / "harm_labels.csv"
LANGUAGES = ("en", "es", "fr", "de", "zh")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    # Character n-grams alone are left out on purpose: they learn one writer's wording, and on
    # validation they tied with embeddings + n-grams (log-loss 0.398 against 0.401).
    "mean": ("r_mean",),
    "mean+max": ("r_mean", "r_max"),
    "mean+chars": ("r_mean", "r_chars"),
    "mean+max+chars": ("r_mean", "r_max", "r_chars"),
    "mean+max+sentences+chars": ("r_mean", "r_max", "s_max", "s_first", "r_chars"),
}
STRENGTHS = (0.001, 0.003, 0.01, 0.03)
"""C as in scikit-learn: the inverse of the L2 penalty."""
SEED = 0  # nothing here is random; kept so the head records it explicitly

F = NDArray[np.float64]


def grid(models: list[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(encoder, feature-set name, blocks) of every candidate, each once (blocks_for)."""
    out: dict[tuple[str, tuple[str, ...]], str] = {}
    for model in models:
        for label, blocks in FEATURE_SETS.items():
            kept = blocks_for(model, blocks)
            out.setdefault((model, kept), label.replace("+max", "") if kept != blocks else label)
    return [(model, label, blocks) for (model, blocks), label in out.items()]


def report(name: str, p: F, y: F, threshold: float, lang: NDArray[np.str_]) -> dict[str, float]:
    pred = p >= threshold
    out = {"all": float(np.mean(pred == y))}
    for code in LANGUAGES:
        mask = lang == code
        out[code] = float(np.mean(pred[mask] == y[mask])) if mask.any() else float("nan")
    tp = float(np.sum(pred & (y == 1)))
    out["precision_unsafe"] = tp / max(1.0, float(pred.sum()))
    out["recall_unsafe"] = tp / max(1.0, float((y == 1).sum()))
    langs = " ".join(f"{c}={out[c]:.3f}" for c in LANGUAGES)
    print(
        f"  {name:10s} n={len(y):4d} acc={out['all']:.3f} | {langs} | "
        f"P(unsafe)={out['precision_unsafe']:.3f} R(unsafe)={out['recall_unsafe']:.3f}"
    )
    return out


def embed_all(prompts: list[str], model: str) -> PairEmbeddings:
    encoder = load_pooled_encoder(model)
    started = time.perf_counter()
    embedded = embed_texts(encoder, prompts)
    took = time.perf_counter() - started
    print(f"embedded {len(prompts)} prompts with {model} in {took:.1f}s")
    return embedded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print only, write no head")
    parser.add_argument("--out", type=Path, default=HEAD_FILE)
    parser.add_argument("--encoders", help="comma-separated encoder names (default: the grid)")
    parser.add_argument("--cache", type=Path, help="pickle of embeddings, reused if present")
    args = parser.parse_args()

    raw = LABELS.read_bytes()
    rows = list(csv.DictReader(raw.decode("utf-8").splitlines(keepends=True)))
    prompts = [r["prompt"] for r in rows]
    sha = "harm-" + hashlib.sha256(raw).hexdigest()
    by_model = cached_embeddings(
        grid_models(args.encoders), args.cache, sha, lambda model: embed_all(prompts, model)
    )
    y = np.array([r["label"] == "unsafe" for r in rows], np.float64)
    split = np.array([r["split"] for r in rows])
    lang = np.array([r["language"] for r in rows])
    train, val, held = (split == s for s in ("train", "validation", "heldout"))

    candidates: list[tuple[float, str, str, tuple[str, ...], float]] = []
    print("validation log-loss (accuracy at 0.5); the held-out split is not looked at here:")
    for model, label, blocks in grid(list(by_model)):
        x = features(blocks, by_model[model]).astype(np.float64)
        for c in STRENGTHS:
            p = fit_on(x, y, train, c).p
            loss = log_loss(p[val], y[val])
            accuracy = np.mean((p[val] >= 0.5) == y[val])
            print(f"  {model} {label} C={c} val loss={loss:.3f} acc={accuracy:.3f}", flush=True)
            candidates.append((loss, model, label, blocks, c))

    loss, model, label, blocks, c = min(candidates, key=lambda t: t[0])
    x = features(blocks, by_model[model]).astype(np.float64)
    fitted = fit_on(x, y, train, c)
    p = fitted.p
    threshold = best_threshold(p[val], y[val])
    print(
        f"chosen: {model} {label} C={c} (validation log-loss {loss:.3f}), threshold {threshold:.3f}"
    )
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
            "labels_sha256": hashlib.sha256(raw).hexdigest(),
            "feature_set": label,
            "C": c,
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
