"""What a round of `sagert align --rounds` trains on: the current model's own unsafe answers.

The training prompts are the run's prompts whose seed prompt is not held out and that have a
chosen answer the run's pair judge passed (the aligned role's answer, judged by
`stages.judge`), so the current model is asked only where a pair can come of it. A pair is
(prompt, that chosen answer, the current model's answer that the configured evaluate judge
found unsafe, or for a refusal judge compliant): the round's rejected answers are always the
model being trained's. Red-team pairs (co-evolution) are the successful elites of an archive
run against the current model, their chosen answer passed by the same pair judge. Contrast
pairs (benign prompts that look harmful: helpful chosen, refusal rejected) are mixed in at the
run's share, so a round does not teach only "refuse more".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagert.core.ids import stable_id
from sagert.judges.base import JudgeKind
from sagert.results.contrast import CONTRAST_KIND, contrast_taken, interleaved
from sagert.results.metrics import EVALUATE_STAGE, result_of
from sagert.stages.pairs import CHOSEN, GOOD_VERDICTS
from sagert.store.run import RunStore
from sagert.training.split import is_heldout
from sagert.workflows.export import configured_share, contrast_records, trl_row

JUDGE_STAGE = "judge"
ANSWERS_TARGET = "current"
"""The one target of a round's answers run: the model the round trains further."""


def write_train_prompts(
    store: RunStore, fraction: float, judge: str, kind: JudgeKind
) -> dict[str, str]:
    """align/train_prompts.jsonl (rewritten: a view of the run); {record id: chosen text}.

    Multi-turn records are left out: a round's model answers one user turn."""
    safe = GOOD_VERDICTS[kind][0]
    chosen: dict[str, str] = {}
    lines: list[str] = []
    for record in store.records(JUDGE_STAGE, ok_only=True):
        if record.turns or not record.prompt:
            continue
        if is_heldout(record.seed_prompt or record.prompt, fraction):
            continue
        verdicts = record.scores.get(judge)
        sides = verdicts.get(CHOSEN, []) if isinstance(verdicts, dict) else []
        answers = record.responses.get(CHOSEN, [])
        index = next(
            (
                i
                for i, v in enumerate(sides)
                if i < len(answers) and isinstance(v, dict) and v.get("verdict") in safe
            ),
            None,
        )
        if index is None:
            continue
        chosen[record.id] = answers[index].text
        lines.append(record.model_dump_json() + "\n")
    path = store.paths.train_prompts
    path.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(path, "".join(lines))
    return chosen


@dataclass(frozen=True)
class AnswerCounts:
    answered: int = 0
    """Judged answers of the current model (judge and target errors apart)."""
    unsafe: int = 0
    errors: int = 0
    """Target errors and judge errors: neither a pair nor counted safe."""


def answer_pairs(
    answers: Path, chosen: dict[str, str], wanted: set[str], index: int
) -> tuple[list[dict[str, Any]], AnswerCounts]:
    """The pairs of a round from its answers run: every unsafe answer to a wanted prompt."""
    rows: list[dict[str, Any]] = []
    answered = unsafe = errors = 0
    for record in RunStore.reader(answers).records(EVALUATE_STAGE):
        origin = str(record.meta.get("origin_id") or "")
        if record.meta.get("target") != ANSWERS_TARGET or origin not in wanted:
            continue
        result = result_of(record)
        if result.outcome in ("judge_error", "target_error"):
            errors += 1
            continue
        answered += 1
        if result.outcome != "success" or result.benign:
            continue
        unsafe += 1
        rows.append(
            pair_row(
                record.prompt or "",
                chosen[origin],
                result.response,
                index,
                "answers",
                seed_prompt=record.seed_prompt,
                rejected_model=result.model,
                judge=result.judge,
                rejected_verdict=result.verdict,
            )
        )
    return rows, AnswerCounts(answered, unsafe, errors)


def contrast_rows(store: RunStore, harmful: int, index: int) -> list[dict[str, Any]]:
    """The run's contrast pairs at its share of a round of `harmful` pairs: round r takes the
    slice after round r-1's (wrapping), so the rounds see different benign look-alikes."""
    pool = list(contrast_records(store))
    taken = contrast_taken(harmful, configured_share(store), len(pool))
    if not taken:
        return []
    start = ((index - 1) * taken) % len(pool)
    rows: list[dict[str, Any]] = []
    for k in range(taken):
        row = trl_row(pool[(start + k) % len(pool)])
        rows.append(
            pair_row(
                row["prompt"],
                row["chosen"],
                row["rejected"],
                index,
                CONTRAST_KIND,
                seed_prompt=row["seed_prompt"],
                rejected_model=row["rejected_model"],
                judge=row["judge"],
                rejected_verdict=row["rejected_verdict"],
            )
        )
    return rows


def mixed(harmful: list[dict[str, Any]], contrast: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The contrast rows spread evenly among the harmful ones (as the export spreads them)."""
    return list(interleaved(harmful, contrast, len(harmful), len(contrast)))


def pair_row(
    prompt: str,
    chosen: str,
    rejected: str,
    index: int,
    origin: str,
    *,
    seed_prompt: str | None = None,
    rejected_model: str | None = None,
    judge: str | None = None,
    rejected_verdict: str | None = None,
) -> dict[str, Any]:
    """One pair in TRL's standard format, every row with the same columns (one Arrow schema)."""
    return {
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "id": stable_id("round", index, origin, prompt),
        "seed_prompt": seed_prompt or prompt,
        "round": index,
        "origin": origin,
        "rejected_model": rejected_model,
        "judge": judge,
        "rejected_verdict": rejected_verdict,
    }


def write_pairs(store: RunStore, path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
    store.write_text(path, "".join(lines))
    return len(lines)


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def folder_stamp(folder: Path) -> list[tuple[str, int, int]]:
    """A model folder's files by name, size and time: what changes when it is trained again."""
    if not folder.is_dir():
        return []
    return sorted(
        (f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file()
    )
