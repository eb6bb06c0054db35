"""A run's records as a guard's labelled examples (no torch here).

From each validated pair: its prompt is an unsafe prompt, its rejected answer an unsafe
response and its chosen answer a safe response, each unsafe one labelled with the record's
taxonomy category; each benign prompt a prompt gate set aside (stages/benign.jsonl) is a safe
prompt. Labelled files add rows as written (prompt, response, label, categories, language,
split); a row whose split is `heldout` is counted and never used. The validation split is
chosen by a hash of the seed prompt (training/split.py), so variants of one request never sit
on both sides.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import UserError
from sagert.models.classifier import UNSAFE, GuardText, Task
from sagert.store.records import Record
from sagert.store.tables import rows
from sagert.training.split import is_heldout

DEFAULT_LANGUAGE = "en"
"""A record's language when it names none: sagert's templates write English."""
Split = Literal["train", "validation"]
HELDOUT = "heldout"
TRUE_LABELS = frozenset({"unsafe", "1", "true", "yes"})
FALSE_LABELS = frozenset({"safe", "0", "false", "no"})


class GuardExample(BaseModel):
    """One labelled text: a prompt alone (prompt task) or a prompt and its response."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    response: str | None = None
    turns: list[dict[str, str]] = Field(default_factory=list)
    unsafe: bool
    categories: list[str] = Field(default_factory=list)
    language: str = DEFAULT_LANGUAGE
    split: Split | None = None
    """train or validation; None: chosen by the hash of `group` (build_dataset)."""
    group: str = ""
    """The split key: the seed prompt, so a request's variants share a side."""
    source: str = ""
    """Where it came from: a record id and its part, or file:row."""

    @property
    def task(self) -> Task:
        return "prompt" if self.response is None else "response"

    def text(self) -> GuardText:
        return GuardText(self.prompt, self.response, tuple(self.turns))

    def key(self) -> tuple[str, str, str | None]:
        return (self.task, self.prompt, self.response)


def record_language(record: Record) -> str:
    value = record.meta.get("language")
    return str(value) if isinstance(value, str) and value else DEFAULT_LANGUAGE


def record_category(record: Record, level: Literal["macro", "sub"]) -> list[str]:
    value = record.taxonomy.macro if level == "macro" else record.taxonomy.sub
    return [value] if value else []


def pair_examples(
    records: Iterable[Record], level: Literal["macro", "sub"]
) -> Iterator[GuardExample]:
    """Three examples per validated pair: the prompt and the rejected answer unsafe, the chosen
    answer safe (a pair record without its two answers is skipped)."""
    for record in records:
        pair = record.meta.get("pair")
        if not isinstance(pair, dict) or not record.prompt:
            continue
        try:
            chosen = record.responses["chosen"][int(pair["chosen"])].text
            rejected = record.responses["rejected"][int(pair["rejected"])].text
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        common: dict[str, Any] = {
            "prompt": record.prompt,
            "turns": _earlier_turns(record),
            "language": record_language(record),
            "group": record.seed_prompt or record.prompt,
        }
        cats = record_category(record, level)
        yield GuardExample(**common, unsafe=True, categories=cats, source=f"{record.id}:prompt")
        yield GuardExample(
            **common,
            response=rejected,
            unsafe=True,
            categories=cats,
            source=f"{record.id}:rejected",
        )
        yield GuardExample(**common, response=chosen, unsafe=False, source=f"{record.id}:chosen")


def benign_examples(records: Iterable[Record]) -> Iterator[GuardExample]:
    """The prompts a prompt gate judged benign: safe prompts."""
    for record in records:
        if record.prompt:
            yield GuardExample(
                prompt=record.prompt,
                turns=_earlier_turns(record),
                unsafe=False,
                language=record_language(record),
                group=record.seed_prompt or record.prompt,
                source=f"{record.id}:benign",
            )


def _earlier_turns(record: Record) -> list[dict[str, str]]:
    turns = record.turns or []
    return [{"role": t["role"], "content": t["content"]} for t in turns[:-1]]


@dataclass
class FileExamples:
    examples: list[GuardExample] = field(default_factory=list)
    skipped_heldout: int = 0


def file_examples(path: Path, *, include_heldout: bool = False) -> FileExamples:
    """A labelled file's rows; a bad label is one line naming the row. Held-out rows are only
    counted, unless `include_heldout` (a file that is itself the held-out set)."""
    out = FileExamples()
    for row in rows(path, comments=True):
        data = row.data
        split = str(data.get("split") or "").strip().lower()
        if include_heldout and split == HELDOUT:
            split = "validation"
        if split == HELDOUT:
            out.skipped_heldout += 1
            continue
        if split not in ("", "train", "validation"):
            raise UserError(
                f"split {split!r}",
                file=path,
                field=f"{row.where}, column 'split'",
                fix="use train, validation or heldout (or leave it empty)",
            )
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise UserError("no prompt", file=path, field=row.where, fix="fill the prompt cell")
        response = data.get("response")
        label = str(data.get("label", "")).strip().lower()
        if label not in TRUE_LABELS | FALSE_LABELS:
            raise UserError(
                f"label {data.get('label')!r} is not unsafe or safe",
                file=path,
                field=f"{row.where}, column 'label'",
                fix="use unsafe/safe (or 1/0)",
            )
        out.examples.append(
            GuardExample(
                prompt=prompt,
                response=response if isinstance(response, str) and response.strip() else None,
                unsafe=label in TRUE_LABELS,
                categories=_categories(data.get("categories")),
                language=str(data.get("language") or DEFAULT_LANGUAGE),
                split="validation" if split == "validation" else "train" if split else None,
                group=str(data.get("group") or prompt),
                source=f"{path.name}:{row.index}",
            )
        )
    return out


def _categories(value: Any) -> list[str]:
    """A list, a JSON list, or names separated by commas or semicolons."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return _categories(json.loads(text))
        except ValueError:
            pass
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


@dataclass
class Dataset:
    """The examples, split, with the label list the classifier gets."""

    examples: list[GuardExample]
    labels: list[str]
    duplicates: int = 0
    skipped_heldout: int = 0

    def split(self, name: Split) -> list[GuardExample]:
        return [e for e in self.examples if e.split == name]


def build_dataset(
    sources: Iterable[GuardExample],
    validation_fraction: float,
    *,
    labels: list[str] | None = None,
    skipped_heldout: int = 0,
) -> Dataset:
    """Unique examples (the first of a repeated text kept), split train/validation by the hash
    of their group unless they came with a split. `labels` fixes the label list (a retrained
    guard keeps its head); categories outside it are dropped from the examples."""
    seen: set[tuple[str, str, str | None]] = set()
    kept: list[GuardExample] = []
    duplicates = 0
    for example in sources:
        if example.key() in seen:
            duplicates += 1
            continue
        seen.add(example.key())
        if example.split is None:
            held = is_heldout(example.group or example.prompt, validation_fraction)
            example = example.model_copy(update={"split": "validation" if held else "train"})
        kept.append(example)
    if labels is None:
        cats = sorted({c for e in kept if e.unsafe for c in e.categories})
        labels = [UNSAFE, *cats]
    known = set(labels[1:])
    kept = [
        e.model_copy(update={"categories": [c for c in e.categories if c in known]}) for e in kept
    ]
    return Dataset(kept, labels, duplicates, skipped_heldout)


def label_vector(example: GuardExample, labels: list[str]) -> list[float]:
    """1.0 for unsafe and each of the example's categories, 0.0 elsewhere."""
    on = {UNSAFE} if example.unsafe else set()
    on.update(example.categories if example.unsafe else [])
    return [1.0 if label in on else 0.0 for label in labels]


def write_examples(path: Path, examples: Iterable[GuardExample]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(example.model_dump_json() + "\n")
            n += 1
    return n


def read_examples(path: Path) -> list[GuardExample]:
    with path.open(encoding="utf-8") as fh:
        return [GuardExample.model_validate_json(line) for line in fh if line.strip()]


def cap_share(
    own: Sequence[GuardExample], others: Sequence[GuardExample], share: float, seed: int
) -> list[GuardExample]:
    """`own` cut to whole groups (a prompt and its answers) sampled by seed, so that it is at
    most `share` of own + others; in its own order. Nothing is cut without `others`."""
    if share >= 1 or not others:
        return list(own)
    limit = math.floor(share * len(others) / (1 - share))
    groups: dict[str, list[GuardExample]] = {}
    for example in own:
        groups.setdefault(example.group or example.prompt, []).append(example)
    order = sorted(groups, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    chosen: set[str] = set()
    size = 0
    for group in order:
        if size + len(groups[group]) <= limit:
            chosen.add(group)
            size += len(groups[group])
    return [e for e in own if (e.group or e.prompt) in chosen]
