"""Build the package's refusal_labels.csv from the hand-written scripts/refusal_labels/*.txt.

The rows are written by hand (one file per language and writer, see en.txt for the format:
`<lang>.txt` is the first writer's, `<lang>.<n>.txt` later ones'); this script only parses them
and assigns the split, grouped by prompt so that no prompt is in two splits, and stratified by
language and prompt kind (harmful / benign) so every language is in every split. Each file is
split on its own, with its own seed: a new file never moves a prompt of an older one between
splits, so a held-out row stays held out. Seeded: running it again gives the same CSV byte for
byte.

    python scripts/build_refusal_labels.py           # writes the CSV
    python scripts/build_refusal_labels.py --check   # parses and counts, writes nothing
    python scripts/build_refusal_labels.py --check scripts/refusal_labels/de.2.txt  # one file
"""

from __future__ import annotations

import argparse
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
COLUMNS = ("prompt", "response", "label", "style", "language", "split", "writer", "kind")
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


def sources() -> list[tuple[Path, str, str]]:
    """(file, language, writer) for every source file; writer 1 is `<lang>.txt`."""
    found = [(SOURCES / f"{lang}.txt", lang, "1") for lang in LANGUAGES]
    for lang in LANGUAGES:
        later = sorted(SOURCES.glob(f"{lang}.*.txt"), key=lambda f: int(f.name.split(".")[1]))
        found += [(f, lang, f.name.split(".")[1]) for f in later]
    return found


def check_one(path: Path) -> None:
    """Parse one file and look for its prompts in the first writer's files (a file being
    written can be checked while others are half-written)."""
    lang = path.name.split(".")[0]
    if lang not in LANGUAGES:
        sys.exit(f"{path}: the name must start with a language code ({', '.join(LANGUAGES)})")
    seen = {p.text for code in LANGUAGES for p in parse(SOURCES / f"{code}.txt", code)}
    prompts = parse(path, lang)
    again = [p.text for p in prompts if p.text in seen]
    texts = [p.text for p in prompts]
    if again or len(set(texts)) != len(texts):
        sys.exit(f"{path}: a prompt is written twice: {(again or texts)[0][:60]!r}")
    styles: dict[str, int] = {}
    for p in prompts:
        for _, label, style in p.responses:
            styles[f"{label} {style}"] = styles.get(f"{label} {style}", 0) + 1
    rows = sum(styles.values())
    print(f"parsed {rows} rows, {len(prompts)} prompts from {path.name}; wrote nothing")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(styles.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        nargs="?",
        const="",
        metavar="FILE",
        help="parse and count, write nothing (every file, or FILE alone)",
    )
    args = parser.parse_args()
    if args.check:
        check_one(Path(args.check))
        return
    files = sources()
    batches: dict[str, list[Prompt]] = {name: [] for _, _, name in files}
    writer_of: dict[str, str] = {}
    for path, lang, name in files:
        for prompt in parse(path, lang):
            if prompt.text in writer_of:
                sys.exit(f"{path}: the prompt {prompt.text[:60]!r} is written twice")
            writer_of[prompt.text] = name
            batches[name].append(prompt)
    prompts = [p for batch in batches.values() for p in batch]
    split: dict[str, str] = {}
    for name, batch in batches.items():
        # Writer 1 keeps the seed its split was first drawn with.
        split |= assign_splits(batch, random.Random(SEED if name == "1" else f"{SEED}-{name}"))
    if args.check is not None:
        rows = sum(len(p.responses) for p in prompts)
        print(f"parsed {rows} rows, {len(prompts)} prompts from {len(files)} files; wrote nothing")
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[tuple[str, str], int] = {}
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for p in prompts:
            for response, label, style in p.responses:
                row = (p.text, response, label, style, p.language, split[p.text])
                writer.writerow((*row, writer_of[p.text], p.kind))
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
