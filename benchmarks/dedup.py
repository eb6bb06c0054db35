"""Near-duplicate filtering: recall, precision, time and memory on planted duplicates.

A seeded stream of N synthetic prompts: base prompts are random word sequences (12-30 words
from a vocabulary of made-up words), so two of them share almost nothing; a fraction of the
stream (10% by default) are near copies of an earlier prompt with small edits (adjacent words
swapped, a word replaced, inserted or deleted, punctuation or case changed). A copy of a copy
belongs to its source's cluster. sagert's exact + MinHash dedup then runs over the stream.

    python benchmarks/dedup.py                      # N=100,000, 10% planted, defaults
    python benchmarks/dedup.py --n 20000 --threshold 0.8 --shingle 2
    python benchmarks/dedup.py --json out.json
    python benchmarks/dedup.py --n 5000 --embedding   # + all-MiniLM-L6-v2 (sagert[embed])

A removed record is correct when it is a planted copy and the record it names is in its
cluster. Recall = correct / planted copies; precision = correct / removed. It reports and never
asserts (targets: recall and precision >= 0.95, < 60 s, < 2 GB); docs/diversity.md has the
measured numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import string
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from sagert.core.ids import stable_id
from sagert.diversity.dedup import dedup_records
from sagert.settings.dedup import DedupSettings
from sagert.store.records import Record

EDITS = ("swap", "replace", "insert", "delete")
STYLE_EDITS = ("punctuation", "case")


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """Made-up words of 2-4 syllables: a vocabulary no real text shares."""
    consonants = "bcdfghjklmnprstvwz"
    vowels = "aeiou"
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(2, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables)))
    return sorted(words)


def base_prompt(rng: random.Random, vocab: list[str]) -> str:
    words = [rng.choice(vocab) for _ in range(rng.randint(12, 30))]
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(("?", ".", ""))


def near_copy(text: str, rng: random.Random, vocab: list[str], word_edits: int) -> tuple[str, str]:
    """`word_edits` word-level edits, and half the time a punctuation or case change too."""
    words = text.split()
    done = []
    for _ in range(word_edits):
        edit = rng.choice(EDITS)
        i = rng.randrange(len(words))
        if edit == "swap" and len(words) > 1:
            i = min(i, len(words) - 2)
            words[i], words[i + 1] = words[i + 1], words[i]
        elif edit == "replace":
            words[i] = rng.choice(vocab)
        elif edit == "insert":
            words.insert(i, rng.choice(vocab))
        elif edit == "delete" and len(words) > 2:
            del words[i]
        done.append(edit)
    if rng.random() < 0.5:
        edit = rng.choice(STYLE_EDITS)
        i = rng.randrange(len(words))
        if edit == "punctuation":
            words[i] = words[i].rstrip(string.punctuation) + rng.choice((",", "!", "?", ";", "..."))
        else:
            words[i] = words[i].upper() if rng.random() < 0.5 else words[i].capitalize()
        done.append(edit)
    return " ".join(words), "+".join(done)


@dataclass
class Planted:
    texts: list[str]
    cluster: list[int]
    """Cluster of each prompt: the index of the base prompt it descends from."""
    copy_edits: dict[int, str]
    """Planted copy index -> the edits made."""


def plant(n: int, dup_rate: float, seed: int, vocab_size: int, max_edits: int) -> Planted:
    rng = random.Random(seed)
    vocab = vocabulary(rng, vocab_size)
    n_copies = round(n * dup_rate)
    copies = set(rng.sample(range(1, n), n_copies))
    texts: list[str] = []
    cluster: list[int] = []
    edits: dict[int, str] = {}
    for i in range(n):
        if i in copies:
            source = rng.randrange(i)
            text, how = near_copy(texts[source], rng, vocab, rng.randint(1, max_edits))
            texts.append(text)
            cluster.append(cluster[source])
            edits[i] = how
        else:
            texts.append(base_prompt(rng, vocab))
            cluster.append(i)
    return Planted(texts, cluster, edits)


def records(texts: list[str]) -> Iterator[Record]:
    for i, text in enumerate(texts):
        yield Record(id=stable_id("bench", i), stage="source", prompt=text, meta={"i": i})


@dataclass
class Result:
    n: int
    planted: int
    removed: int
    correct: int
    recall: float
    precision: float
    removed_by_method: dict[str, int]
    missed_by_edits: dict[str, int]
    dedup_seconds: float
    peak_rss_mb: float
    settings: dict[str, object]


def run(planted: Planted, settings: DedupSettings) -> Result:
    index_of = {stable_id("bench", i): i for i in range(len(planted.texts))}
    removed = correct = 0
    by_method: Counter[str] = Counter()
    found: set[int] = set()
    started = time.perf_counter()
    for record, dup in dedup_records(records(planted.texts), settings):
        if dup is None:
            continue
        removed += 1
        by_method[dup.method] += 1
        i = record.meta["i"]
        if i in planted.copy_edits and planted.cluster[index_of[dup.id]] == planted.cluster[i]:
            correct += 1
            found.add(i)
    seconds = time.perf_counter() - started
    missed = Counter(how for i, how in planted.copy_edits.items() if i not in found)
    n_planted = len(planted.copy_edits)
    return Result(
        n=len(planted.texts),
        planted=n_planted,
        removed=removed,
        correct=correct,
        recall=correct / n_planted if n_planted else 1.0,
        precision=correct / removed if removed else 1.0,
        removed_by_method=dict(by_method),
        missed_by_edits=dict(missed.most_common(8)),
        dedup_seconds=seconds,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        settings=settings.model_dump(),
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dup-rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab", type=int, default=4000, help="vocabulary size")
    parser.add_argument("--max-edits", type=int, default=2, help="word-level edits per copy")
    parser.add_argument("--threshold", type=float, default=None, help="MinHash threshold")
    parser.add_argument("--shingle", type=int, default=None, help="word n-gram size")
    parser.add_argument("--num-perm", type=int, default=None)
    parser.add_argument(
        "--embedding", action="store_true", help="also the embedding test (slow on a CPU)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()

    overrides = {
        key: value
        for key, value in (
            ("minhash_threshold", args.threshold),
            ("shingle", args.shingle),
            ("num_perm", args.num_perm),
            ("embedding", args.embedding or None),
        )
        if value is not None
    }
    settings = DedupSettings.model_validate(overrides)
    t0 = time.perf_counter()
    planted = plant(args.n, args.dup_rate, args.seed, args.vocab, args.max_edits)
    print(
        f"planted {len(planted.copy_edits)} near copies in {args.n} prompts"
        f" ({time.perf_counter() - t0:.1f} s to generate)"
    )
    result = run(planted, settings)
    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {sys.version.split()[0]}")
    print(
        f"settings: shingle={settings.shingle} threshold={settings.minhash_threshold}"
        f" num_perm={settings.num_perm} embedding={settings.embedding}"
    )
    print(f"removed {result.removed} ({result.removed_by_method}), correct {result.correct}")
    print(f"recall    {result.recall:.4f}")
    print(f"precision {result.precision:.4f}")
    print(f"dedup wall time {result.dedup_seconds:.1f} s, peak RSS {result.peak_rss_mb:.0f} MB")
    print(f"missed, by planted edits: {result.missed_by_edits}")
    ok = (
        result.recall >= 0.95
        and result.precision >= 0.95
        and result.dedup_seconds < 60
        and result.peak_rss_mb < 2048
    )
    print("PASS" if ok else "BELOW TARGET")
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n")


if __name__ == "__main__":
    main()
