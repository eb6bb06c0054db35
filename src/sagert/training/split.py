"""Which prompts train and which are held out: a stable hash of the seed prompt.

Attacked and evolved variants of one request share their seed prompt, so they land on the
same side; training and `sagert align`'s held-out evaluation use this one rule. No torch here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sagert.store.jsonl import read_records


def is_heldout(key: str, fraction: float) -> bool:
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < fraction


def split_pairs(export: Path, out_dir: Path, fraction: float) -> tuple[Path, Path, int, int]:
    """train_pairs.jsonl / heldout_pairs.jsonl from a TRL export, by seed prompt."""
    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, heldout_path = out_dir / "train_pairs.jsonl", out_dir / "heldout_pairs.jsonl"
    n_train = n_held = 0
    with (
        export.open(encoding="utf-8") as src,
        train_path.open("w", encoding="utf-8") as tr,
        heldout_path.open("w", encoding="utf-8") as ho,
    ):
        for line in src:
            row = json.loads(line)
            if is_heldout(str(row.get("seed_prompt") or row.get("prompt") or ""), fraction):
                ho.write(line)
                n_held += 1
            else:
                tr.write(line)
                n_train += 1
    return train_path, heldout_path, n_train, n_held


def write_heldout_prompts(stage_file: Path, out: Path, fraction: float) -> int:
    """The stage's completed prompts whose seed prompt is held out, as a stage file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("w", encoding="utf-8") as fh:
        for record in read_records(stage_file):
            if record.status != "ok" or not record.prompt:
                continue
            if is_heldout(record.seed_prompt or record.prompt, fraction):
                fh.write(record.model_dump_json() + "\n")
                n += 1
    return n
