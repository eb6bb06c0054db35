"""Which prompts equal or nearly equal a test set's prompts, or each other.

Training data made to fix over-refusal must not contain the over-refusal test (XSTest): a
prompt matches a test prompt when their normalized texts are equal or their word sets' MinHash
Jaccard estimate reaches the threshold (the dedup stage's tests, diversity/dedup.py). The test
prompts are indexed first, then the candidates in the order given, so a candidate that matches
no test prompt but an earlier candidate is a duplicate of that one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sagert.diversity.dedup import dedup_records
from sagert.settings.dedup import DedupSettings
from sagert.store.records import Record

TEST_ID = "test-set:"
"""Id prefix of the indexed test prompts (no record id has a colon)."""


@dataclass(frozen=True)
class Overlap:
    """Why a candidate is left out: the test prompt (or kept candidate) it matches."""

    kind: Literal["test_set", "duplicate"]
    match: str
    """The test prompt's text, or the id of the candidate it duplicates."""
    method: str
    similarity: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "match": self.match,
            "method": self.method,
            "similarity": round(self.similarity, 4),
        }


def overlap_settings(threshold: float) -> DedupSettings:
    """Exact and MinHash over word sets (short prompts: a one-word edit still matches)."""
    return DedupSettings(exact=True, minhash=True, minhash_threshold=threshold, shingle=1)


def find_overlaps(
    candidates: Iterable[Record], test_prompts: Sequence[str], threshold: float
) -> Iterator[tuple[Record, Overlap | None]]:
    """Each candidate with None (kept) or the overlap that leaves it out, in input order."""
    tests = [
        Record(id=f"{TEST_ID}{i}", stage="test_set", prompt=text)
        for i, text in enumerate(test_prompts)
    ]

    def stream() -> Iterator[Record]:
        yield from tests
        yield from candidates

    for record, dup in dedup_records(stream(), overlap_settings(threshold)):
        if record.id.startswith(TEST_ID):
            continue
        if dup is None:
            yield record, None
        elif dup.id.startswith(TEST_ID):
            text = test_prompts[int(dup.id[len(TEST_ID) :])]
            yield record, Overlap("test_set", text, dup.method, dup.similarity)
        else:
            yield record, Overlap("duplicate", dup.id, dup.method, dup.similarity)
