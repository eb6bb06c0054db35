"""Per-record seeds and RNGs: the same record gets the same draws in any order, after any resume."""

from __future__ import annotations

import random

from sagert.core.ids import stable_id


def record_seed(run_seed: int, record_id: str, purpose: str, attempt: int = 0) -> int:
    return int(stable_id(run_seed, record_id, purpose, attempt)[:8], 16)


def record_rng(run_seed: int, record_id: str, purpose: str) -> random.Random:
    return random.Random(record_seed(run_seed, record_id, purpose))
