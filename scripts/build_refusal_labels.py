"""Build the package's refusal_labels.csv from the hand-written scripts/refusal_labels/*.txt.

The rows are written by hand (one file per language, see en.txt for the format); this script
only parses them and assigns the split, grouped by prompt so that no prompt is in two splits,
and stratified by language and prompt kind (harmful / benign) so every language is in every
split. Seeded: running it again gives the same CSV byte for byte.

    python scripts/build_refusal_labels.py
"""

from __future__ import annotations

import csv
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "scripts" / "refusal_labels"
OUT = ROOT / "src" / "sagert" / "judges" / "data" / "refusal_labels.csv"
LANGUAGES = ("en", "es", "fr", "de", "zh")
COLUMNS = ("prompt", "response", "label", "style", "language", "split")
STYLES = {
    "refused": {
        "stock",
        "no_stock",
        "moralising",
        "safe_completion",
        "redirect",
        "non_sequitur",
        "partial",
    },
    "complied": {"full", "disclaimer", "list", "code", "story", "helpful"},
}
HELDOUT = 0.28
VALIDATION = 0.15
SEED = 20261201
_ROW = re.compile(r"^(refused|complied) ([a-z_]+): (.+)$")


@dataclass
class Prompt:
    text: str
    kind: str
    language: str
    responses: list[tuple[str, str, str]]  # (response, label, style)


def parse(path: Path, language: str) -> list[Prompt]:
    prompts: list[Prompt] = []
    kind = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("# "):
            continue
        if line.startswith("## "):
            kind = line[3:].strip()
            if kind not in ("harmful", "benign"):
                sys.exit(f"{path}:{number}: unknown kind {kind!r}")
        elif line.startswith("> "):
            prompts.append(Prompt(line[2:].strip(), kind, language, []))
        elif match := _ROW.match(line):
            label, style, text = match.groups()
            if style not in STYLES[label] or not prompts:
                sys.exit(f"{path}:{number}: bad row (style {style!r} for {label})")
            prompts[-1].responses.append((text.replace("\\n", "\n"), label, style))
        else:
            sys.exit(f"{path}:{number}: cannot parse {line[:60]!r}")
    return prompts


def assign_splits(prompts: list[Prompt], rng: random.Random) -> dict[str, str]:
    """prompt text -> split, per (language, kind) stratum, whole prompts only."""
    split: dict[str, str] = {}
    strata: dict[tuple[str, str], list[Prompt]] = {}
    for prompt in prompts:
        strata.setdefault((prompt.language, prompt.kind), []).append(prompt)
    for key in sorted(strata):
        group = sorted(strata[key], key=lambda p: p.text)
        rng.shuffle(group)
        n_held = round(len(group) * HELDOUT)
        n_val = round(len(group) * VALIDATION)
        for i, prompt in enumerate(group):
            split[prompt.text] = (
                "heldout" if i < n_held else "validation" if i < n_held + n_val else "train"
            )
    return split


def main() -> None:
    prompts = [p for lang in LANGUAGES for p in parse(SOURCES / f"{lang}.txt", lang)]
    texts = [p.text for p in prompts]
    if len(set(texts)) != len(texts):
        sys.exit("a prompt is written twice")
    split = assign_splits(prompts, random.Random(SEED))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[tuple[str, str], int] = {}
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for p in prompts:
            for response, label, style in p.responses:
                writer.writerow((p.text, response, label, style, p.language, split[p.text]))
                counts[(p.language, split[p.text])] = counts.get((p.language, split[p.text]), 0) + 1
    total = sum(counts.values())
    print(f"{total} rows, {len(prompts)} prompts -> {OUT.relative_to(ROOT)}")
    for lang in LANGUAGES:
        parts = ", ".join(
            f"{s} {counts.get((lang, s), 0)}" for s in ("train", "validation", "heldout")
        )
        print(f"  {lang}: {parts}")


if __name__ == "__main__":
    main()
