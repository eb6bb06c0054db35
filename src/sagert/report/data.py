"""What a report shows, gathered from a run directory by streaming its stage files.

An evaluation run (stages/evaluate.jsonl) gives rates, heatmaps and one table row per answer;
a generation run gives coverage counts, stage counts, dropped-pair reasons and, when the
manifest has them, diversity figures. A run may have both. Rows are capped: the table is for
reading examples, results.csv holds everything.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sagert.diversity.metrics import DiversityAccumulator
from sagert.results.calibration import Calibration
from sagert.results.metrics import (
    EVAL_ATTACK_STAGE,
    EVALUATE_STAGE,
    MISSING,
    Summary,
    Tally,
    attack_errors,
    result_of,
)
from sagert.store.paths import PROMPT_STAGES
from sagert.store.records import Record
from sagert.store.run import RunStore

MAX_TEXT = 4000
MAX_STEP_TEXT = 1200
TABLE_STAGES = ("pairs", "judge", "responses", *PROMPT_STAGES, "raw_text")
DIVERSITY_SAMPLE = 500


def clip(text: str | None, limit: int = MAX_TEXT) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more chars]"


def category_of(record: Record) -> str:
    t = record.taxonomy
    return " / ".join(p for p in (t.macro, t.sub, t.leaf, t.topic) if p) or MISSING


def _lineage(record: Record) -> list[dict[str, str]]:
    return [{"name": s.name, "text": clip(s.after, MAX_STEP_TEXT)} for s in record.lineage]


def evaluation_row(record: Record) -> dict[str, Any]:
    r = result_of(record)
    verdicts = [
        {
            "judge": name,
            "verdict": str(score.get("verdict", "")),
            "detail": str(score.get("explanation") or score.get("error") or ""),
        }
        for name, score in record.scores.items()
        if isinstance(score, dict)
    ]
    tags = [v["verdict"] for v in verdicts] or ["target error"]
    status = {
        "success": "attack succeeded",
        "blocked": "attack blocked",
        "judge_error": "judge error",
        "target_error": "target error",
    }[r.outcome]
    if r.benign and r.outcome != "target_error":
        status = {"refused": "benign: over-refused", "complied": "benign: answered"}.get(
            r.refusal, "benign: judge error"
        )
    return {
        "id": record.id,
        "kind": "evaluation",
        "status": status,
        "tags": tags,
        "category": category_of(record),
        "macro": r.macro,
        "where": f"{r.source} · {r.target} · {r.attack}" + (" · benign" if r.benign else ""),
        "prompt": clip(record.prompt),
        "original": clip(record.seed_prompt) if record.seed_prompt != record.prompt else "",
        "lineage": _lineage(record),
        "responses": [{"who": r.target, "text": clip(r.response)}] if r.response else [],
        "verdicts": verdicts,
        "error": r.error,
    }


def generation_row(record: Record) -> dict[str, Any]:
    verdicts: list[dict[str, str]] = []
    for judge, sides in record.scores.items():
        if not isinstance(sides, dict):
            continue
        for side, scores in sides.items():
            for i, score in enumerate(scores if isinstance(scores, list) else []):
                detail = score.get("explanation") or score.get("error") or ""
                verdicts.append(
                    {
                        "judge": f"{judge} ({side} #{i + 1})",
                        "verdict": str(score.get("verdict", "")),
                        "detail": str(detail),
                    }
                )
    responses = [
        {"who": f"{side} #{a.sample + 1} ({a.model})", "text": clip(a.text)}
        for side, answers in record.responses.items()
        for a in answers
    ]
    failure = record.failure.reason if record.failure else ""
    status = {"failed": "failed", "filtered": "benign: set aside"}.get(record.status, "ok")
    if record.stage == "pairs":
        status = "pair kept" if record.status == "ok" else "pair dropped"
    parts = [record.stage, record.format, record.persona, record.meta.get("attack")]
    return {
        "id": record.id,
        "kind": "generation",
        "status": status,
        "tags": sorted({v["verdict"] for v in verdicts} | {status}),
        "category": category_of(record),
        "macro": record.taxonomy.macro or MISSING,
        "where": " · ".join(str(p) for p in parts if p),
        "prompt": clip(record.prompt or record.meta.get("topic") or ""),
        "original": clip(record.seed_prompt)
        if record.seed_prompt and record.seed_prompt != record.prompt
        else "",
        "lineage": _lineage(record),
        "responses": responses,
        "verdicts": verdicts,
        "error": failure,
    }


@dataclass
class Table:
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    source: str = ""


def table(store: RunStore, max_rows: int) -> Table:
    """The records worth reading: the evaluation's answers, else the furthest generation stage."""
    out = Table()
    for stage, make in (
        (EVALUATE_STAGE, evaluation_row),
        *((s, generation_row) for s in TABLE_STAGES),
    ):
        path = store.paths.stage(stage)
        if path.exists():
            _fill(out, store.records(stage), make, max_rows)
            out.source = str(path.relative_to(store.path))
            break
    return out


def _fill(out: Table, records: Iterator[Record], make: Any, max_rows: int) -> None:
    for record in records:
        out.total += 1
        if len(out.rows) < max_rows:
            out.rows.append(make(record))


def evaluation_summary(store: RunStore) -> dict[str, Any] | None:
    """Rates recomputed from the results (the source of truth), not read from summary.json.

    Besides the summary's groupings, `by["source_attack"]` splits each source by attack
    style, for the model comparison (same Tally, so the same Wilson intervals).
    """
    if not store.paths.stage(EVALUATE_STAGE).exists():
        return None
    summary = Summary()
    source_attack: dict[tuple[str, str, str], Tally] = {}
    for record in store.records(EVALUATE_STAGE):
        result = result_of(record)
        summary.add(result)
        key = (result.target, result.source, result.attack)
        source_attack.setdefault(key, Tally()).add(result)
    calibration = summary_calibration(store)
    data = summary.as_dict(attack_errors(store), calibration)
    data["by"]["source_attack"] = [
        {"target": target, "source": source, "attack": attack, **tally.as_dict(calibration)}
        for (target, source, attack), tally in sorted(source_attack.items())
    ]
    return data


def summary_calibration(store: RunStore) -> Calibration | None:
    """The judge calibration the last `sagert evaluate` used, as summary.json keeps it.

    Kept there, not re-read from `evaluate.judge_calibration`: that path is relative to where
    evaluate ran, and the report must give the numbers summary.json gave.
    """
    try:
        data = json.loads(store.paths.summary_json.read_text(encoding="utf-8"))
        block = data.get("judge_calibration") if isinstance(data, dict) else None
        return Calibration.from_dict(block, str(block.get("file") or "")) if block else None
    except (OSError, ValueError, AttributeError):
        return None


@dataclass
class Coverage:
    """Counts over a generation run's prompt set, by each factor SAGE varies."""

    stage: str
    prompts: int = 0
    failed: int = 0
    benign: int = 0
    """Prompts a gate judged benign and set aside (stages/benign.jsonl)."""
    by: dict[str, Counter[str]] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    kept_pairs: int = 0
    diversity: dict[str, Any] = field(default_factory=dict)
    """`sagert stats`'s figures for the same prompts (distinct-n, self-BLEU, coverage)."""


def coverage(store: RunStore, seed: int = 0) -> Coverage | None:
    stage = next((s for s in PROMPT_STAGES if store.paths.has_records(s)), None)
    if stage is None:
        return None
    cov = Coverage(stage=stage)
    factors = ("macro", "sub", "format", "attack", "persona", "region")
    cov.by = {f: Counter() for f in factors}
    diversity = DiversityAccumulator(sample=DIVERSITY_SAMPLE, seed=seed)
    for record in store.records(stage):
        if record.status != "ok":
            cov.benign += record.status == "filtered"
            cov.failed += record.status == "failed"
            continue
        cov.prompts += 1
        diversity.add(record)
        t = record.taxonomy
        values = {
            "macro": t.macro,
            "sub": t.sub,
            "format": record.format,
            "attack": record.meta.get("attack", "none" if stage == "attack" else None),
            "persona": record.persona,
            "region": record.meta.get("region"),
        }
        for factor, value in values.items():
            if value:
                cov.by[factor][str(value)] += 1
    report = diversity.report(source=stage)
    cov.diversity = report.model_dump(
        include={
            "prompts",
            "words_mean",
            "distinct_1",
            "distinct_2",
            "distinct_3",
            "sample_size",
            "self_bleu",
            "leaves_covered",
            "leaves_total",
        }
    )
    for record in store.records("pairs"):
        if record.status == "ok":
            cov.kept_pairs += 1
        elif record.failure:
            cov.dropped[record.failure.reason.split("(", 1)[0].strip()[:120]] += 1
    return cov


def manifest(store: RunStore) -> dict[str, Any]:
    """The manifest as plain data for the page (an unreadable one shows as empty)."""
    try:
        return store.manifest().model_dump(mode="json", exclude_none=True)
    except ValueError:
        return {}


def has_generation(store: RunStore) -> bool:
    return any(store.paths.stage(s).exists() for s in (*TABLE_STAGES, "expand"))


def has_evaluation(store: RunStore) -> bool:
    return any(store.paths.stage(s).exists() for s in (EVALUATE_STAGE, EVAL_ATTACK_STAGE))
