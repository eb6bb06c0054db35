"""`sagert guard-loop CONFIG`: the generator hunts the guard's mistakes, the guard learns them.

Round 0 is a guard (guard_loop.guard, else `sagert train --method guard` on the run). Each round
after: the generator is asked for pairs the guard is likely to get wrong (workflows/guard_ask),
the teacher labels them, the round's starting guard classifies them, and the examples it got
wrong are added to the training data (with the run's own) and the guard is trained on from
where it was. Every guard is scored on the fixed held-out file and on every round's mistake set
so far, so the summary shows whether it learns its mistakes and whether it still generalises.
Each round's files live in `guard_loop/round-N/` (store/paths.py); a round whose `result.json`
exists is done and read back, so an interrupted loop resumes at the round it stopped in (model
answers come back from the run's cache).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.core.languages import language_code
from sagert.engine.context import RunContext
from sagert.engine.session import open_run
from sagert.judges.base import Judge
from sagert.models.classifier import GuardClassifier, read_card
from sagert.models.types import Generator
from sagert.settings.guard import GuardLoopSettings
from sagert.settings.run import RunConfig
from sagert.store.paths import GuardRoundPaths, RunPaths
from sagert.store.run import write_atomic, write_json
from sagert.taxonomy.builtin import load_taxonomy
from sagert.training.guard_data import (
    Dataset,
    GuardExample,
    build_dataset,
    file_examples,
    read_examples,
    write_examples,
)
from sagert.training.guard_metrics import report
from sagert.translation.detect import LanguageDetector
from sagert.workflows import guard as guard_workflow
from sagert.workflows.guard_ask import (
    Asked,
    Category,
    Labels,
    Pair,
    Teacher,
    ask,
    label_all,
    plan,
    teacher_judges,
)

log = logging.getLogger(__name__)


def loop_settings(config: RunConfig, rounds: int | None = None) -> GuardLoopSettings:
    if config.guard_loop is None:
        raise UserError(
            "no guard_loop section", field="guard_loop", fix="add guard_loop: {rounds: 2}"
        )
    settings = config.guard_loop
    return settings if rounds is None else settings.model_copy(update={"rounds": rounds})


def initial_guard(config: RunConfig, settings: GuardLoopSettings) -> Path:
    """The round-0 guard: the configured folder, or the run's own (trained when missing)."""
    if settings.guard is not None:
        folder = Path(settings.guard)
        read_card(folder)  # not a guard folder: one line now, before any model call
        return folder
    return Path(guard_workflow.run(config).final_model)


def base_data(config: RunConfig, labels: list[str]) -> Dataset:
    """The run's guard data with the guard's labels (may be empty: a guard from elsewhere)."""
    return guard_workflow.dataset(config, config.guard, labels=labels, required=False)


def categories_of(config: RunConfig, keys: list[str]) -> dict[str, Category]:
    """Names and descriptions from the run's taxonomy (a key it lacks stands for itself)."""
    try:
        taxonomy = load_taxonomy(config.taxonomy)
    except UserError:
        taxonomy = None
    out: dict[str, Category] = {}
    for key in keys:
        try:
            node = taxonomy.find(key) if taxonomy is not None else None
        except UserError:
            node = None
        out[key] = Category(key, node.name, node.description) if node else Category(key, key)
    return out


def evaluate(folder: Path, examples: list[GuardExample]) -> dict[str, Any] | None:
    """The guard's unsafe F1 on the examples (all, per task, per language); None if empty."""
    if not examples:
        return None
    classifier = GuardClassifier.load(folder)
    card = classifier.card
    probs = classifier.probabilities([e.text() for e in examples])
    figures = report(examples, probs, card.labels, card.thresholds)
    unsafe = figures["unsafe"]
    return {
        "n": len(examples),
        "f1": unsafe["all"]["f1"],
        "accuracy": unsafe["all"]["accuracy"],
        "prompt_f1": unsafe["prompt"]["f1"],
        "response_f1": unsafe["response"]["f1"],
        "languages": {lang: v["all"]["f1"] for lang, v in figures["languages"].items()},
        "counts": {k: unsafe["all"][k] for k in ("tp", "fp", "fn", "tn")},
    }


def run(config: RunConfig, *, rounds: int | None = None) -> dict[str, Any]:
    """Every round not yet done, then the summary (also in guard_loop/summary.json)."""
    settings = loop_settings(config, rounds)
    prompt_judge, response_judge = teacher_judges(settings)  # a bad judge fails before training
    paths = RunPaths(config.run_dir)
    heldout = _heldout(settings)
    guard = initial_guard(config, settings)
    card = read_card(guard)
    keys = settings.categories or card.categories
    if not keys:
        raise UserError(
            "the guard has no categories to ask for",
            field="guard_loop.categories",
            fix="list the taxonomy categories to ask the generator about",
        )
    categories = categories_of(config, keys)
    base = base_data(config, card.labels)
    zero = paths.guard_round(0)
    if zero.result.is_file():
        results = [json.loads(zero.result.read_text(encoding="utf-8"))]
    else:
        results = [{"round": 0, "guard": str(guard), "heldout": evaluate(guard, heldout)}]
        write_json(zero.result, results[0])
    mistakes: list[list[GuardExample]] = []
    for number in range(1, settings.rounds + 1):
        where = paths.guard_round(number)
        if where.result.is_file():
            result = json.loads(where.result.read_text(encoding="utf-8"))
            mistakes.append(read_examples(where.mistakes))
        else:
            teacher = (prompt_judge, response_judge)
            result, wrong = _round(config, settings, number, guard, teacher, categories, mistakes)
            mistakes.append(wrong)
            result.update(_train_round(config, settings, where, guard, base, mistakes, result))
            result["heldout"] = evaluate(Path(result["guard"]), heldout)
            result["mistakes_f1"] = {
                str(k + 1): evaluate(Path(result["guard"]), m) for k, m in enumerate(mistakes)
            }
            write_json(where.result, result)
        guard = Path(result["guard"])
        results.append(result)
    summary = {
        "rounds": results,
        "teacher": settings.teacher.model_dump(),
        "prompt_teacher": settings.prompt_teacher.model_dump() if settings.prompt_teacher else None,
        "heldout_file": settings.heldout,
        "first_mistakes_f1": first_mistakes(results, "f1"),
        "first_mistakes_accuracy": first_mistakes(results, "accuracy"),
    }
    write_json(paths.guard_loop_summary, summary)
    return summary


def first_mistakes(results: list[dict[str, Any]], figure: str) -> list[float | None]:
    """A figure on round 1's mistake set: the round-0 guard's (round 1's start), then each
    round's. Accuracy beside F1, because a set of false alarms only has no F1 to raise."""
    if len(results) < 2:
        return []
    start = (results[1].get("start") or {}).get(figure)
    later = [(r.get("mistakes_f1", {}).get("1") or {}).get(figure) for r in results[1:]]
    return [start, *later]


def _heldout(settings: GuardLoopSettings) -> list[GuardExample]:
    if settings.heldout is None:
        return []
    return file_examples(Path(settings.heldout), include_heldout=True).examples


def _round(
    config: RunConfig,
    settings: GuardLoopSettings,
    number: int,
    guard: Path,
    judges: tuple[Judge, Judge],
    categories: dict[str, Category],
    earlier: list[list[GuardExample]],
) -> tuple[dict[str, Any], list[GuardExample]]:
    """Ask, label and find the starting guard's mistakes; the round's files are written."""
    where = RunPaths(config.run_dir).guard_round(number)
    requests = plan(settings, list(categories), number, config.seed)

    async def go() -> tuple[list[Asked], list[Labels]]:
        async with open_run(config) as ctx:
            asked = await asyncio.gather(
                *(
                    ask(
                        ctx.role("generator"),
                        ctx.templates,
                        settings,
                        request,
                        categories[request.category],
                        shown_mistakes(earlier, request.category, settings.examples_shown),
                        config.seed,
                    )
                    for request in requests
                )
            )
            prompt_judge, response_judge = judges
            teacher = Teacher(
                prompt_judge,
                response_judge,
                _model(ctx, prompt_judge, (settings.prompt_teacher or settings.teacher).role),
                _model(ctx, response_judge, settings.teacher.role),
                ctx.templates,
            )
            items = [(p, categories[a.request.category]) for a in asked for p in a.pairs]
            return list(asked), await label_all(teacher, items, settings.concurrency)

    asked, labels = asyncio.run(go())
    write_lines(where.candidates, [a.model_dump_json() for a in asked])
    found = _mistakes(guard, asked, labels, categories)
    write_lines(where.labelled, [json.dumps(row, ensure_ascii=False) for row in found])
    wrong = [GuardExample.model_validate(m) for row in found for m in row["mistakes"]]
    write_examples(where.mistakes, wrong)
    pairs = sum(len(a.pairs) for a in asked)
    off = [row for row in found if _off_language(row)]
    unknown = sum((lab.prompt is None) + (lab.response is None) for lab in labels)
    result = {
        "round": number,
        "start_guard": str(guard),
        "requests": len(asked),
        "failed_requests": sum(1 for a in asked if a.error),
        "pairs": pairs,
        "teacher_errors": unknown,
        "labelled_examples": 2 * pairs - unknown,
        "mistakes": len(wrong),
        "off_language": len(off),
        "start": evaluate(guard, wrong),
    }
    return result, wrong


def _off_language(row: dict[str, Any]) -> bool:
    """A pair confidently written in another language than the one asked for."""
    written = row["written_language"]
    return written is not None and written != language_code(row["request"]["language"])


def _model(ctx: RunContext, judge: Judge, role: str) -> Generator | None:
    return ctx.role(role) if judge.needs_model else None


def shown_mistakes(
    earlier: list[list[GuardExample]], category: str, limit: int
) -> list[dict[str, Any]]:
    """The latest mistakes to show a request: its category's first, then any others."""
    latest = [e for batch in reversed(earlier) for e in batch]
    ordered = [e for e in latest if category in e.categories]
    ordered += [e for e in latest if category not in e.categories]
    return [
        {"prompt": e.prompt, "response": e.response, "label": "unsafe" if e.unsafe else "safe"}
        for e in ordered[:limit]
    ]


def _mistakes(
    guard: Path, asked: list[Asked], labels: list[Labels], categories: dict[str, Category]
) -> list[dict[str, Any]]:
    """Each pair with its labels, the guard's verdicts and the examples it got wrong."""
    pairs: list[tuple[Asked, Pair]] = [(a, p) for a in asked for p in a.pairs]
    written = written_languages(pairs)
    examples: list[GuardExample] = []
    for (a, pair), lab, language in zip(pairs, labels, written, strict=True):
        r = a.request
        for response, unsafe in ((None, lab.prompt), (pair.response, lab.response)):
            part = "prompt" if response is None else "response"
            examples.append(
                GuardExample(
                    prompt=pair.prompt,
                    response=response,
                    unsafe=bool(unsafe),
                    categories=[r.category] if unsafe else [],
                    language=language or r.language,
                    group=pair.prompt,
                    split="train",
                    source=f"round-{r.round}:{r.index}:{pair.prompt[:40]}:{part}",
                )
            )
    verdicts = _verdicts(guard, examples)
    rows: list[dict[str, Any]] = []
    for i, ((a, pair), lab) in enumerate(zip(pairs, labels, strict=True)):
        pe, re_ = examples[2 * i], examples[2 * i + 1]
        pv, rv = verdicts[2 * i], verdicts[2 * i + 1]
        wrong = [
            e.model_dump(mode="json")
            for e, v, known in ((pe, pv, lab.prompt), (re_, rv, lab.response))
            if known is not None and v != e.unsafe
        ]
        rows.append(
            {
                "request": a.request.model_dump(),
                "pair": pair.model_dump(),
                "labels": lab.model_dump(),
                "written_language": written[i],
                "guard": {"prompt_unsafe": pv, "response_unsafe": rv},
                "mistakes": wrong,
            }
        )
    return rows


def written_languages(pairs: list[tuple[Asked, Pair]]) -> list[str | None]:
    """The language each pair is confidently written in (None: too short or unclear), so that
    an example is filed under the language it is in, not the one that was asked for."""
    detector = LanguageDetector()
    out: list[str | None] = []
    for _, pair in pairs:
        found = detector.detect(f"{pair.prompt}\n{pair.response or ''}")
        out.append(found.language if found.confident else None)
    return out


def _verdicts(guard: Path, examples: list[GuardExample]) -> list[bool]:
    if not examples:
        return []
    classifier = GuardClassifier.load(guard)
    probs = classifier.probabilities([e.text() for e in examples])
    t = classifier.card.thresholds
    return [bool(probs[i, 0] >= t.unsafe(e.task)) for i, e in enumerate(examples)]


def _train_round(
    config: RunConfig,
    settings: GuardLoopSettings,
    where: GuardRoundPaths,
    guard: Path,
    base: Dataset,
    mistakes: list[list[GuardExample]],
    result: dict[str, Any],
) -> dict[str, Any]:
    """Train on from the round's starting guard: the run's data and every mistake so far."""
    found = [e for batch in mistakes for e in batch]
    data = build_dataset([*base.examples, *found], 0.0, labels=base.labels)
    repeats = [e for e in found for _ in range(settings.repeat_mistakes - 1)]
    gs = config.guard
    if settings.max_steps is not None:
        gs = gs.model_copy(update={"max_steps": settings.max_steps})
    done = guard_workflow.train_best(
        config,
        gs,
        [*data.split("train"), *repeats],
        data.split("validation"),
        data.labels,
        where.guard_dir,
        base_model=str(guard),
    )
    return {
        "guard": done.final_model,
        "train": {
            "steps": done.steps,
            "loss": done.train_loss,
            "examples": done.train_examples,
            "mistakes_added": len(found),
            "thresholds": done.thresholds,
        },
    }


def write_lines(path: Path, lines: list[str]) -> None:
    write_atomic(path, "".join(line + "\n" for line in lines))
