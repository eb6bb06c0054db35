"""Translation with a real model: English answers into es/fr/de/zh (how many pass the checks,
by language), and the keyword `refusal` judge on non-English answers as given and through
back-translation into English.

    PYTHONPATH=src python benchmarks/multilingual.py --gguf MODEL.gguf --per-language 8
    PYTHONPATH=src python benchmarks/multilingual.py --gguf MODEL.gguf --json out.json

The answers are sagert's hand-labelled set (src/sagert/judges/data/refusal_labels.csv, held-out
split): for the back-translation part, the first N answers of each of es / fr / de / zh, half
labelled refused and half complied; for the forward part, the first N English answers. The model
runs in process through llama.cpp (the `llamacpp` provider), greedy, answers cached in a
temporary run folder. It reports and never asserts; docs/multilingual.md has the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sagert.core.templates import Templates
from sagert.engine.context import RunContext
from sagert.judges import make_judge
from sagert.judges.base import JudgeContext, JudgeInput
from sagert.settings.run import RunConfig
from sagert.translation.detect import LanguageDetector
from sagert.translation.english import EnglishReader
from sagert.translation.translate import TranslationError, Translator

LABELS = Path(__file__).parent.parent / "src/sagert/judges/data/refusal_labels.csv"
TARGETS = ("es", "fr", "de", "zh")


def heldout(language: str, n: int, balanced: bool) -> list[dict[str, str]]:
    with LABELS.open(encoding="utf-8") as fh:
        rows = [
            r
            for r in csv.DictReader(line for line in fh if not line.startswith("#"))
            if r["split"] == "heldout" and r["language"] == language
        ]
    if not balanced:
        return rows[:n]
    half = n // 2
    refused = [r for r in rows if r["label"] == "refused"][:half]
    return refused + [r for r in rows if r["label"] == "complied"][: n - half]


async def back_translation(ctx: RunContext, n: int) -> dict[str, Any]:
    judge = make_judge("refusal")
    detector = LanguageDetector()
    reader = EnglishReader(detector)
    translator = Translator(ctx.role("translator"), ctx.templates, detector)
    jctx = JudgeContext(templates=Templates())
    out: dict[str, Any] = {}
    for language in TARGETS:
        right_raw = right_read = errors = translated = 0
        started = time.perf_counter()
        rows = heldout(language, n, balanced=True)
        for row in rows:
            item = JudgeInput(row["prompt"], response=row["response"])
            raw = await judge.score(item, jctx)
            read = await reader.score(judge, item, jctx, translator, ctx.config.seed)
            right_raw += raw.verdict == row["label"]
            right_read += read.verdict == row["label"]
            errors += read.is_error
            translated += read.translated_from is not None
        out[language] = {
            "answers": len(rows),
            "accuracy_as_given": right_raw / len(rows),
            "accuracy_back_translated": right_read / len(rows),
            "back_translated": translated,
            "judge_errors": errors,
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(language, out[language], flush=True)
    return out


async def forward(ctx: RunContext, n: int) -> dict[str, Any]:
    detector = LanguageDetector()
    translator = Translator(ctx.role("translator"), ctx.templates, detector)
    rows = heldout("en", n, balanced=False)
    out: dict[str, Any] = {}
    for language in TARGETS:
        problems: Counter[str] = Counter()
        started = time.perf_counter()
        for i, row in enumerate(rows):
            try:
                await translator.translate(row["response"], language, seed=i, kind="text")
                problems["translated"] += 1
            except TranslationError as exc:
                problems[exc.problem] += 1
        out[language] = {**problems, "seconds": round(time.perf_counter() - started, 1)}
        print(language, out[language], flush=True)
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sagert-ml-") as tmp:
        spec = {"model": "llamacpp/bench", "args": {"gguf": args.gguf, "n_parallel": 1}}
        spec["config"] = {"max_tokens": 256}
        config = RunConfig.model_validate(
            {"name": "ml", "runs_dir": tmp, "models": {"generator": spec}}
        )
        ctx = RunContext.open(config)
        try:
            started = time.perf_counter()
            result = {
                "model": Path(args.gguf).name,
                "per_language": args.per_language,
                "forward": await forward(ctx, args.per_language),
                "back_translation": await back_translation(ctx, args.per_language),
            }
            stats = ctx.role("translator").stats.as_dict()
            result["calls"] = {k: stats.get(k) for k in ("requests", "completion_tokens")}
            result["seconds"] = round(time.perf_counter() - started, 1)
            return result
        finally:
            await ctx.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--per-language", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
