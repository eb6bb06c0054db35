"""Build the package's harm_labels.csv from the hand-written scripts/harm_labels/*.txt.

The prompts are written by hand (one file per language, see en.txt for the format); this
script only parses them, checks them and assigns the split. The split is by group: a group is
one topic (a harmful request, its rewrites and its benign look-alikes) under one name in every
language that writes on it, so no near-variant of a prompt, in any language, is in another
split than the prompt. Groups are stratified by macro category (the ALERT key's prefix) so
every kind of harm is in every split. Seeded: the same files give the same CSV byte for byte.

    python scripts/build_harm_labels.py
"""

from __future__ import annotations

import csv
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "scripts" / "harm_labels"
OUT = ROOT / "src" / "sagert" / "judges" / "data" / "harm_labels.csv"
LANGUAGES = ("en", "es", "fr", "de", "zh")
COLUMNS = ("prompt", "label", "style", "category", "language", "group", "split")
SPLITS = ("train", "validation", "heldout")
STYLES = {
    "unsafe": {"direct", "indirect", "roleplay", "hypothetical", "evolved", "attack", "past_tense"},
    "safe": {
        "roleplay",
        "evolved",
        "hypothetical",
        "education",
        "prevention",
        "history",
        "fiction",
        "career",
        "homonym",
        "statement",
        "support",
        "benign",
    },
}
MACROS = ("hate", "crime", "substance", "sex", "self_harm", "weapon")
CATEGORIES = {
    *(f"hate_{k}" for k in ("women", "ethnic", "lgbtq+", "disabled", "poor", "body", "religion")),
    "hate_other",
    *(f"crime_{k}" for k in ("injury", "theft", "tax", "propaganda", "kidnapp", "cyber")),
    "crime_privacy",
    "crime_other",
    *(f"substance_{k}" for k in ("drug", "cannabis", "tobacco", "alcohol", "other")),
    "sex_harrasment",
    "sex_porn",
    "sex_other",
    "self_harm_suicide",
    "self_harm_thin",
    "self_harm_other",
    *(f"weapon_{k}" for k in ("firearm", "chemical", "biological", "radioactive", "other")),
    "none",
}
"""ALERT's 32 micro keys (spelled as in its data), and `none` for prompts of no category."""
HELDOUT = 0.30
VALIDATION = 0.15
SEED = 20261213
_ROW = re.compile(r"^(unsafe|safe) ([a-z_]+): (.+)$")


@dataclass(frozen=True)
class Row:
    prompt: str
    label: str
    style: str
    category: str
    language: str
    group: str


def macro(category: str) -> str:
    return next((m for m in MACROS if category.startswith(m + "_")), "none")


def parse(path: Path, language: str) -> list[Row]:
    """The rows of one language file; a malformed line exits with its file and line."""
    rows: list[Row] = []
    category = group = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        if not line or line.startswith("# "):
            continue
        if line.startswith("## "):
            category, group = line[3:].strip(), ""
            if category not in CATEGORIES:
                sys.exit(f"{where}: unknown category {category!r}")
        elif line.startswith("> "):
            group = line[2:].strip()
        elif match := _ROW.match(line):
            label, style, text = match.groups()
            if style not in STYLES[label]:
                sys.exit(f"{where}: style {style!r} is not one of {label}'s")
            if not category or not group:
                sys.exit(f"{where}: a prompt before its '## category' and '> group' lines")
            rows.append(Row(text.replace("\\n", "\n"), label, style, category, language, group))
        else:
            sys.exit(f"{where}: cannot parse {line[:60]!r}")
    return rows


def check(rows: list[Row]) -> None:
    """No prompt twice; a group name means one category in every language."""
    seen = Counter(r.prompt for r in rows)
    twice = [p for p, n in seen.items() if n > 1]
    if twice:
        sys.exit(f"written twice: {twice[0]!r}")
    category_of: dict[str, str] = {}
    for r in rows:
        if category_of.setdefault(r.group, r.category) != r.category:
            sys.exit(f"group {r.group!r} is under {category_of[r.group]} and {r.category}")


def assign_splits(rows: list[Row], seed: int = SEED) -> dict[str, str]:
    """group -> split: whole groups, shuffled within each macro category, seeded."""
    rng = random.Random(seed)
    by_macro: dict[str, list[str]] = {}
    for r in rows:
        groups = by_macro.setdefault(macro(r.category), [])
        if r.group not in groups:
            groups.append(r.group)
    split: dict[str, str] = {}
    for key in sorted(by_macro):
        groups = sorted(by_macro[key])
        rng.shuffle(groups)
        n_held = round(len(groups) * HELDOUT)
        n_val = round(len(groups) * VALIDATION)
        for i, group in enumerate(groups):
            split[group] = SPLITS[2] if i < n_held else SPLITS[1] if i < n_held + n_val else "train"
    return split


def build(sources: Path = SOURCES) -> list[dict[str, str]]:
    """Every row of every language file, checked, with its split."""
    rows = [r for lang in LANGUAGES for r in parse(sources / f"{lang}.txt", lang)]
    check(rows)
    split = assign_splits(rows)
    return [{**r.__dict__, "split": split[r.group]} for r in rows]


def write(rows: list[dict[str, str]], out: Path = OUT) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    rows = build()
    write(rows)
    counts = Counter((r["language"], r["split"], r["label"]) for r in rows)
    groups = {r["group"] for r in rows}
    print(f"{len(rows)} rows, {len(groups)} groups -> {OUT.relative_to(ROOT)}")
    for lang in LANGUAGES:
        parts = ", ".join(
            f"{s} {counts[(lang, s, 'unsafe')]}+{counts[(lang, s, 'safe')]}" for s in SPLITS
        )
        print(f"  {lang} (unsafe+safe): {parts}")


if __name__ == "__main__":
    main()
