"""How the transformers provider groups concurrent prompts (no torch needed)."""

from __future__ import annotations

from sagert.models.providers.hf_local import _Request, select_batch
from sagert.models.types import GenerateConfig

GREEDY = GenerateConfig(temperature=0.0, max_tokens=8)


def req(length: int, config: GenerateConfig = GREEDY) -> _Request:
    return _Request(f"p{length}", "", config, lambda _out: None, ids=[1] * length)


def test_oldest_first_then_nearest_lengths():
    waiting = [req(100), req(10), req(98), req(400), req(103), req(12)]
    batch = select_batch(waiting, size=3, max_tokens=10_000)
    assert [r.length for r in batch] == [100, 98, 103]


def test_padded_tokens_stay_within_budget():
    waiting = [req(10), req(11), req(300), req(12), req(13)]
    batch = select_batch(waiting, size=8, max_tokens=60)
    assert [r.length for r in batch] == [10, 11, 12, 13]  # 4 x 13 = 52 <= 60; 300 never fits
    assert max(r.length for r in batch) * len(batch) <= 60


def test_an_oversized_prompt_still_runs_alone():
    waiting = [req(5000), req(10)]
    assert [r.length for r in select_batch(waiting, size=8, max_tokens=100)] == [5000]


def test_other_sampling_settings_wait_for_their_own_batch():
    hot = GenerateConfig(temperature=0.9, max_tokens=8)
    waiting = [req(10), req(10, hot), req(11), req(10, hot)]
    batch = select_batch(waiting, size=8, max_tokens=1000)
    assert len(batch) == 2 and all(r.config == GREEDY for r in batch)
