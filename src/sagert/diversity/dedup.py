"""Near-duplicate filtering over a stream: exact, MinHash LSH, and optionally embeddings.

Only the indexes are held in memory (a hash per kept prompt, the MinHash signatures and LSH
buckets of kept prompts, their embedding matrix), never the records: a run of any size streams
through. Each record is compared with the records kept before it, so the first occurrence in
stream order is the one kept, and a removed record always names a kept one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped]
from numpy.typing import NDArray

from sagert.core.errors import UserError
from sagert.diversity.embeddings import Encoder, load_encoder
from sagert.diversity.text import field_text, normalize, shingles
from sagert.settings.dedup import DedupSettings
from sagert.store.records import Record

Method = Literal["exact", "minhash", "embedding"]
METHODS: tuple[Method, ...] = ("exact", "minhash", "embedding")

_LSH_WEIGHTS = (0.3, 0.7)
"""(false positive, false negative) weights for choosing bands: candidates are verified against
the stored signatures, so a false positive costs a comparison and a false negative a miss."""
_EMBED_BLOCK = 16384
"""Kept embeddings compared per matrix product: bounds the (batch x block) similarity matrix."""


@dataclass(frozen=True, slots=True)
class DuplicateOf:
    """Why a record was removed: the kept record it duplicates, the test, and how close."""

    id: str
    method: Method
    similarity: float

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "method": self.method, "similarity": round(self.similarity, 4)}


class _ExactIndex:
    """A 64-bit digest of each kept prompt's normalized text."""

    def __init__(self) -> None:
        self._seen: dict[bytes, str] = {}

    @staticmethod
    def key(normalized: str) -> bytes:
        return hashlib.blake2b(normalized.encode("utf-8"), digest_size=8).digest()

    def find(self, key: bytes) -> str | None:
        return self._seen.get(key)

    def add(self, key: bytes, record_id: str) -> None:
        self._seen.setdefault(key, record_id)


class _MinHashIndex:
    """LSH buckets for candidates, kept signatures to verify them (LSH alone over-reports)."""

    def __init__(self, settings: DedupSettings) -> None:
        self.threshold = settings.minhash_threshold
        self.shingle = settings.shingle
        self._template = MinHash(num_perm=settings.num_perm, seed=1)
        try:
            self._lsh = MinHashLSH(
                threshold=settings.minhash_threshold,
                num_perm=settings.num_perm,
                weights=_LSH_WEIGHTS,
            )
        except ValueError as exc:  # too few bands: a threshold near 1 with few permutations
            raise UserError(
                f"minhash_threshold {settings.minhash_threshold} with num_perm"
                f" {settings.num_perm} cannot be indexed ({exc})",
                field="dedup.minhash_threshold",
                fix="raise num_perm or lower the threshold (exact dedup catches equal prompts)",
            ) from None
        self._signatures = np.empty((1024, settings.num_perm), dtype=np.uint32)
        self._ids: list[str] = []

    def signature(self, normalized: str) -> Any:
        grams = shingles(normalized.split(), self.shingle)
        if not grams:
            return None
        mh = self._template.copy()
        mh.update_batch(grams)
        return mh

    def find(self, mh: Any) -> tuple[str, float] | None:
        candidates: list[int] = self._lsh.query(mh)
        if not candidates:
            return None
        rows = np.asarray(candidates, dtype=np.int64)
        similarity = (self._signatures[rows] == mh.hashvalues).mean(axis=1)
        best = int(similarity.argmax())
        if similarity[best] < self.threshold:
            return None
        # Ties go to the earliest kept record, so results do not depend on bucket order.
        at = np.flatnonzero(similarity == similarity[best])
        index = int(rows[at].min())
        return self._ids[index], float(similarity[best])

    def add(self, mh: Any, record_id: str) -> None:
        index = len(self._ids)
        if index == len(self._signatures):
            grown = np.empty((2 * index, self._signatures.shape[1]), dtype=np.uint32)
            grown[:index] = self._signatures
            self._signatures = grown
        self._signatures[index] = mh.hashvalues
        self._ids.append(record_id)
        self._lsh.insert(index, mh, check_duplication=False)


class _EmbeddingIndex:
    """The unit-length embeddings of kept prompts, one row each."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._matrix: NDArray[np.float32] = np.empty((0, 0), dtype=np.float32)
        self._ids: list[str] = []

    def best_kept(self, vectors: NDArray[np.float32]) -> tuple[NDArray[Any], NDArray[Any]]:
        """For each vector, the most similar kept row (index, cosine); -1 when none is kept."""
        n = len(self._ids)
        best = np.full(len(vectors), -np.inf, dtype=np.float32)
        where = np.full(len(vectors), -1, dtype=np.int64)
        for start in range(0, n, _EMBED_BLOCK):
            block = vectors @ self._matrix[start : min(n, start + _EMBED_BLOCK)].T
            arg = block.argmax(axis=1)
            val = block[np.arange(len(vectors)), arg]
            better = val > best
            best[better] = val[better]
            where[better] = arg[better] + start
        return where, best

    def id_of(self, index: int) -> str:
        return self._ids[index]

    def add(self, vectors: NDArray[np.float32], ids: Sequence[str]) -> None:
        if not ids:
            return
        n = len(self._ids)
        if self._matrix.shape[0] < n + len(ids):
            grown = np.empty((max(1024, 2 * (n + len(ids))), vectors.shape[1]), dtype=np.float32)
            if n:
                grown[:n] = self._matrix[:n]
            self._matrix = grown
        self._matrix[n : n + len(ids)] = vectors
        self._ids.extend(ids)


class Deduplicator:
    """Decides record by record (in batches for the embedding model) against what was kept."""

    def __init__(self, settings: DedupSettings, *, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self._exact = _ExactIndex() if settings.exact else None
        self._minhash = _MinHashIndex(settings) if settings.minhash else None
        self._embed: _EmbeddingIndex | None = None
        self._encoder: Encoder | None = None
        if settings.embedding:
            self._encoder = encoder or load_encoder()
            self._embed = _EmbeddingIndex(settings.embedding_threshold)

    @property
    def batch_size(self) -> int:
        return self.settings.embedding_batch if self._embed is not None else 256

    def process(self, batch: Sequence[Record]) -> list[tuple[Record, DuplicateOf | None]]:
        texts = [field_text(r, self.settings.field) for r in batch]
        vectors: NDArray[np.float32] | None = None
        before: tuple[NDArray[Any], NDArray[Any]] | None = None
        if self._embed is not None and self._encoder is not None:
            present = [t for t in texts if t is not None]
            encoded = self._encoder(present) if present else None
            vectors = np.zeros((len(batch), 0 if encoded is None else encoded.shape[1]), np.float32)
            if encoded is not None:
                vectors[[i for i, t in enumerate(texts) if t is not None]] = encoded
            before = self._embed.best_kept(vectors)
        out: list[tuple[Record, DuplicateOf | None]] = []
        kept_rows: list[int] = []
        for i, (record, text) in enumerate(zip(batch, texts, strict=True)):
            if text is None:  # nothing to compare: kept, and never matched against
                out.append((record, None))
                continue
            normalized = normalize(text)
            key = _ExactIndex.key(normalized)
            if self._exact is not None and (same := self._exact.find(key)) is not None:
                out.append((record, DuplicateOf(same, "exact", 1.0)))
                continue
            mh = self._minhash.signature(normalized) if self._minhash is not None else None
            if mh is not None and self._minhash is not None:
                hit = self._minhash.find(mh)
                if hit is not None:
                    out.append((record, DuplicateOf(hit[0], "minhash", hit[1])))
                    continue
            if vectors is not None and before is not None and self._embed is not None:
                dup = self._embedding_duplicate(i, vectors, before, kept_rows, batch)
                if dup is not None:
                    out.append((record, dup))
                    continue
                kept_rows.append(i)
            if self._exact is not None:
                self._exact.add(key, record.id)
            if mh is not None and self._minhash is not None:
                self._minhash.add(mh, record.id)
            out.append((record, None))
        if vectors is not None and self._embed is not None:
            self._embed.add(vectors[kept_rows], [batch[i].id for i in kept_rows])
        return out

    def _embedding_duplicate(
        self,
        i: int,
        vectors: NDArray[np.float32],
        before: tuple[NDArray[Any], NDArray[Any]],
        kept_rows: list[int],
        batch: Sequence[Record],
    ) -> DuplicateOf | None:
        """The closest kept record, from earlier batches or earlier in this one."""
        assert self._embed is not None
        where, best = before
        found: DuplicateOf | None = None
        score = -np.inf
        if where[i] >= 0:
            found = DuplicateOf(self._embed.id_of(int(where[i])), "embedding", float(best[i]))
            score = float(best[i])
        if kept_rows:
            sims = vectors[kept_rows] @ vectors[i]
            j = int(sims.argmax())
            if float(sims[j]) > score:
                found = DuplicateOf(batch[kept_rows[j]].id, "embedding", float(sims[j]))
                score = float(sims[j])
        if found is None or score < self._embed.threshold:
            return None
        return DuplicateOf(found.id, "embedding", min(1.0, found.similarity))


def dedup_records(
    records: Iterable[Record], settings: DedupSettings, *, encoder: Encoder | None = None
) -> Iterator[tuple[Record, DuplicateOf | None]]:
    """Each record with None (kept) or what it duplicates, in input order.

    A record whose compared field is empty is kept and never matched against. `encoder`
    replaces the all-MiniLM-L6-v2 model when `settings.embedding` is on (tests, other models).
    """
    dedup = Deduplicator(settings, encoder=encoder)
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= dedup.batch_size:
            yield from dedup.process(batch)
            batch = []
    if batch:
        yield from dedup.process(batch)
