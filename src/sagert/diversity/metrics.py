"""Diversity metrics of a prompt set: distinct-n, self-BLEU, embedding dispersion, coverage.

One streaming pass: n-gram sets for distinct-n, counters per taxonomy leaf, format, persona
and attack style, and a seeded reservoir sample for the pairwise metrics (self-BLEU and the
embedding dispersion are quadratic, so they run on the sample, never on the whole set).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table
from rich.text import Text
from sacrebleu.metrics.bleu import BLEU
from sacrebleu.metrics.helpers import extract_all_word_ngrams

from sagert.diversity.embeddings import Encoder
from sagert.diversity.text import field_text, normalize
from sagert.store.records import Record

DISTINCT_ORDERS = (1, 2, 3)
BLEU_ORDER = 4
NONE_LABEL = "(none)"


class DiversityReport(BaseModel):
    """Everything `sagert stats` prints, for one source."""

    model_config = ConfigDict(extra="forbid")

    source: str
    prompts: int
    words_mean: float = Field(description="Mean words per prompt (normalized words).")
    distinct_1: float | None = Field(description="Unique unigrams / unigrams, whole set.")
    distinct_2: float | None
    distinct_3: float | None
    sample_size: int = Field(description="Prompts in the seeded sample for pairwise metrics.")
    self_bleu: float | None = Field(
        description="Mean sentence BLEU (sacrebleu, 0-100) of each sampled prompt against the"
        " rest of the sample: higher is more repetitive."
    )
    embedding_dispersion: float | None = Field(
        description="Mean pairwise cosine distance of the sample's embeddings (None: not run)."
    )
    leaves: dict[str, int] = Field(description="Prompts per taxonomy leaf (path of keys).")
    formats: dict[str, int]
    personas: dict[str, int]
    attacks: dict[str, int] = Field(description='Prompts per attack style (meta["attack"]).')
    coverage_k: int
    leaves_total: int
    leaves_covered: int = Field(description="Leaves with at least coverage_k prompts.")
    coverage: float | None = Field(description="leaves_covered / leaves_total.")


def leaf_of(record: Record) -> str | None:
    """The record's taxonomy path down to its deepest key, as `macro/sub/leaf/topic`."""
    t = record.taxonomy
    keys = [k for k in (t.macro, t.sub, t.leaf, t.topic) if k]
    return "/".join(keys) if keys else None


class DiversityAccumulator:
    """Feed records one at a time; ask for the report at the end."""

    def __init__(self, *, sample: int = 500, seed: int = 0, field: str = "prompt") -> None:
        if sample < 2:
            raise ValueError("the sample needs at least 2 prompts")
        self.field = field
        self.sample_size = sample
        self._rng = random.Random(seed)
        self._seen = 0
        self._words = 0
        self._sample: list[str] = []
        self._ngrams: dict[int, set[int]] = {n: set() for n in DISTINCT_ORDERS}
        self._totals: dict[int, int] = dict.fromkeys(DISTINCT_ORDERS, 0)
        self.leaves: Counter[str] = Counter()
        self.formats: Counter[str] = Counter()
        self.personas: Counter[str] = Counter()
        self.attacks: Counter[str] = Counter()

    def add(self, record: Record) -> None:
        text = field_text(record, self.field)
        if text is None:
            return
        words = normalize(text).split()
        self._words += len(words)
        for n in DISTINCT_ORDERS:
            # Hashes, not the n-grams: the set stays 8 bytes-ish per unique n-gram.
            grams = self._ngrams[n]
            for i in range(len(words) - n + 1):
                grams.add(hash(tuple(words[i : i + n])))
            self._totals[n] += max(0, len(words) - n + 1)
        self._reservoir(text)
        if (leaf := leaf_of(record)) is not None:
            self.leaves[leaf] += 1
        self.formats[record.format or NONE_LABEL] += 1
        self.personas[record.persona or NONE_LABEL] += 1
        attack = record.meta.get("attack")
        self.attacks[attack if isinstance(attack, str) and attack else NONE_LABEL] += 1

    def _reservoir(self, text: str) -> None:
        """Algorithm R: every prompt has the same chance to be in the sample."""
        self._seen += 1
        if len(self._sample) < self.sample_size:
            self._sample.append(text)
            return
        j = self._rng.randrange(self._seen)
        if j < self.sample_size:
            self._sample[j] = text

    @property
    def sample(self) -> list[str]:
        return list(self._sample)

    def distinct(self, n: int) -> float | None:
        total = self._totals[n]
        return len(self._ngrams[n]) / total if total else None

    def report(
        self,
        *,
        source: str = "",
        k: int = 1,
        total_leaves: int | None = None,
        expected_leaves: Collection[str] | None = None,
        encoder: Encoder | None = None,
    ) -> DiversityReport:
        """`expected_leaves` (the taxonomy's leaf paths) or `total_leaves` fix the denominator
        of coverage; without them it is the number of distinct leaves seen."""
        leaves = Counter(self.leaves)
        if expected_leaves is not None:
            for leaf in expected_leaves:
                leaves.setdefault(leaf, 0)
            considered = list(expected_leaves)
        else:
            considered = list(leaves)
        covered = sum(1 for leaf in considered if leaves[leaf] >= k)
        n_total = (
            len(considered) if expected_leaves is not None or total_leaves is None else total_leaves
        )
        return DiversityReport(
            source=source,
            prompts=self._seen,
            words_mean=self._words / self._seen if self._seen else 0.0,
            distinct_1=self.distinct(1),
            distinct_2=self.distinct(2),
            distinct_3=self.distinct(3),
            sample_size=len(self._sample),
            self_bleu=self_bleu(self._sample),
            embedding_dispersion=embedding_dispersion(self._sample, encoder) if encoder else None,
            leaves=_sorted(leaves),
            formats=_sorted(self.formats),
            personas=_sorted(self.personas),
            attacks=_sorted(self.attacks),
            coverage_k=k,
            leaves_total=n_total,
            leaves_covered=covered,
            coverage=covered / n_total if n_total else None,
        )


def diversity_report(
    records: Iterable[Record],
    *,
    source: str = "",
    field: str = "prompt",
    sample: int = 500,
    seed: int = 0,
    k: int = 1,
    total_leaves: int | None = None,
    expected_leaves: Collection[str] | None = None,
    encoder: Encoder | None = None,
) -> DiversityReport:
    acc = DiversityAccumulator(sample=sample, seed=seed, field=field)
    for record in records:
        acc.add(record)
    return acc.report(
        source=source,
        k=k,
        total_leaves=total_leaves,
        expected_leaves=expected_leaves,
        encoder=encoder,
    )


def _sorted(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def self_bleu(texts: Sequence[str]) -> float | None:
    """Mean of sacrebleu's sentence_bleu(t, others) over the texts; None below 2 texts.

    Equal to calling `sacrebleu.sentence_bleu` per text (defaults: 13a tokens, exp smoothing,
    effective order) but linear instead of quadratic: the best count of each n-gram among the
    *other* texts is the top count, or the runner-up when the text itself holds the top.
    """
    if len(texts) < 2:
        return None
    bleu = BLEU(effective_order=True)
    stats = [extract_all_word_ngrams(bleu.tokenizer(t.rstrip()), 1, BLEU_ORDER) for t in texts]
    top: dict[tuple[str, ...], tuple[int, int, int]] = {}  # n-gram -> (best, its text, 2nd best)
    for doc, (ngrams, _) in enumerate(stats):
        for gram, count in ngrams.items():
            best = top.get(gram)
            if best is None:
                top[gram] = (count, doc, 0)
            elif count > best[0]:
                top[gram] = (count, doc, best[0])
            elif count > best[2]:
                top[gram] = (best[0], best[1], count)
    lengths = Counter(length for _, length in stats)
    scores = []
    for doc, (ngrams, hyp_len) in enumerate(stats):
        correct = [0] * BLEU_ORDER
        total = [0] * BLEU_ORDER
        for gram, count in ngrams.items():
            order = len(gram) - 1
            total[order] += count
            first, holder, second = top[gram]
            correct[order] += min(count, second if holder == doc else first)
        score = BLEU.compute_bleu(
            correct,
            total,
            hyp_len,
            _closest_other_length(hyp_len, lengths),
            smooth_method="exp",
            effective_order=True,
            max_ngram_order=BLEU_ORDER,
        )
        scores.append(score.score)
    return statistics.fmean(scores)


def _closest_other_length(length: int, lengths: Counter[int]) -> int:
    """sacrebleu's closest reference length (ties: the shorter), the text itself left out."""
    others = (n for n, count in lengths.items() if n != length or count > 1)
    return min(others, key=lambda n: (abs(length - n), n))


def embedding_dispersion(texts: Sequence[str], encoder: Encoder) -> float | None:
    """Mean cosine distance over all pairs: 0 when every prompt says the same thing."""
    if len(texts) < 2:
        return None
    vectors = encoder(list(texts)).astype(np.float64)
    n = len(vectors)
    total = vectors.sum(axis=0)
    pair_sum = float(total @ total - np.einsum("ij,ij->", vectors, vectors))
    return 1.0 - pair_sum / (n * (n - 1))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _spread(counts: dict[str, int]) -> str:
    if not counts:
        return "-"
    values = list(counts.values())
    return f"{min(values)} / {statistics.median(values):g} / {max(values)}"


def _top(counts: dict[str, int], top: int) -> Text:
    """The most frequent values (text from data: a Text, never markup)."""
    if not counts or set(counts) == {NONE_LABEL}:
        return Text("-")
    shown = ", ".join(f"{name} ({n})" for name, n in list(counts.items())[:top])
    more = len(counts) - top
    return Text(shown + (f", +{more} more" if more > 0 else ""))


def report_table(reports: Sequence[DiversityReport], *, top: int = 3) -> Table:
    """One column per source, so sagert data and other datasets compare side by side."""
    table = Table(title="Diversity", show_lines=False)
    table.add_column("metric", style="bold")
    for r in reports:
        table.add_column(Text(r.source or "source"), justify="right", overflow="fold")
    rows: list[tuple[str, list[str | Text]]] = [
        ("prompts", [str(r.prompts) for r in reports]),
        ("words per prompt (mean)", [f"{r.words_mean:.1f}" for r in reports]),
        ("distinct-1", [_fmt(r.distinct_1) for r in reports]),
        ("distinct-2", [_fmt(r.distinct_2) for r in reports]),
        ("distinct-3", [_fmt(r.distinct_3) for r in reports]),
        ("self-BLEU (0-100, lower: more diverse)", [_fmt(r.self_bleu, 2) for r in reports]),
        ("sample for self-BLEU / embeddings", [str(r.sample_size) for r in reports]),
        ("embedding dispersion (0-2)", [_fmt(r.embedding_dispersion) for r in reports]),
        ("leaves", [str(r.leaves_total) if r.leaves else "-" for r in reports]),
        (
            "leaves covered (>= k prompts)",
            [
                f"{r.leaves_covered} ({_fmt(r.coverage, 3)}, k={r.coverage_k})" if r.leaves else "-"
                for r in reports
            ],
        ),
        ("prompts per leaf (min / median / max)", [_spread(r.leaves) for r in reports]),
        ("formats", [_top(r.formats, top) for r in reports]),
        ("personas", [_top(r.personas, top) for r in reports]),
        ("attack styles", [_top(r.attacks, top) for r in reports]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    return table


def counts_table(report: DiversityReport, facet: str, *, top: int = 10) -> Table | None:
    """Prompt counts of one facet (leaves, formats, personas, attacks), most frequent first."""
    counts: dict[str, int] = getattr(report, facet)
    if not counts or set(counts) == {NONE_LABEL}:
        return None
    table = Table(title=f"{facet} ({len(counts)})")
    table.add_column(facet.rstrip("s"))
    table.add_column("prompts", justify="right")
    table.add_column("share", justify="right")
    total = sum(counts.values()) or 1
    items = list(counts.items())
    for name, n in items[:top]:
        table.add_row(Text(name), str(n), f"{n / total:.1%}")
    if len(items) > top:
        rest = sum(n for _, n in items[top:])
        table.add_row(Text(f"... {len(items) - top} more"), str(rest), f"{rest / total:.1%}")
    return table
