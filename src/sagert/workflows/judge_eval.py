"""`sagert judge-eval`: how far a judge agrees with human labels, with intervals.

The judge runs as the `judge_eval` stage in a run folder, so an interrupted run resumes and a
finished one makes no model call. Everything a user can get wrong (the judge, its settings,
every label of the file) is checked before the run folder is opened or a model is called.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sagert.core.errors import UserError
from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.runner import run_stage
from sagert.engine.session import open_run
from sagert.engine.summary import StageSummary, total_calls
from sagert.judges.base import judges_responses
from sagert.results.agreement import (
    DEFAULT_POSITIVE,
    KIND,
    RESAMPLES,
    Agreement,
    Tally,
    parse_label,
    parse_positive,
    predicted,
)
from sagert.results.verdicts import OPPOSITE
from sagert.settings.run import RunConfig
from sagert.settings.stages import JudgeStage
from sagert.stages.judge_eval import JudgeEval, labelled_record, model_fingerprint
from sagert.store.labelled import LabelledColumns, read_labelled
from sagert.store.run import RunStore, write_json

JudgeBlock = Literal["judge", "evaluate"]
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
INTERVALS = {
    "proportions": "Wilson score 95% (accuracy, precision, recall, specificity)",
    "f1_kappa": f"nonparametric bootstrap 95% percentile, {RESAMPLES} resamples of the judged"
    " rows, seeded with the run seed",
}


def judge_settings(
    judge: str | None, config: RunConfig | None, block: JudgeBlock | None
) -> JudgeStage:
    """The judge to measure: a registered name, or a config's judge block."""
    if judge is not None and block is not None:
        raise UserError("give a JUDGE name or --judge BLOCK, not both", fix="drop one")
    if block is not None:
        if config is None:
            raise UserError("--judge reads a config's judge", fix="give -c CONFIG too")
        if block == "judge":
            return config.stages.judge
        if config.evaluate is None:
            raise UserError("no evaluate section", field="evaluate", fix="use --judge judge")
        e = config.evaluate
        return JudgeStage(judge=e.judge, settings=e.judge_settings, concurrency=e.concurrency)
    if judge is None:
        raise UserError(
            "no judge to measure", fix="name one (sagert list judges), or give -c CONFIG --judge"
        )
    return JudgeStage(judge=judge)


def run_config(
    config: RunConfig | None, judge: str, labelled: Path, run_dir: Path | None
) -> RunConfig:
    """The config's run folder, `--run-dir`, or `runs/judge-eval-<judge>-<file stem>`."""
    if run_dir is None and config is not None:
        return config
    base = config or RunConfig()
    if run_dir is None:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", labelled.stem).strip("-.") or "labels"
        run_dir = base.runs_dir / f"judge-eval-{judge}-{stem}"[:100]
    if not RUN_NAME.match(run_dir.name):
        raise UserError(
            "a run folder's name is letters, digits, '_', '.', '-'",
            file=run_dir,
            fix="pick another --run-dir",
        )
    return base.model_copy(update={"runs_dir": run_dir.parent, "name": run_dir.name})


@dataclass(frozen=True)
class Labelled:
    """One checked row: its stage input id, its label, its group."""

    id: str
    positive: bool
    group: str


@dataclass
class JudgeEvalReport:
    judge: str
    judge_settings: dict[str, Any]
    judge_model: str | None
    input: Path
    positive: tuple[str, ...]
    overall: Agreement
    group_column: str | None
    groups: dict[str, Agreement]
    stage: StageSummary
    run_dir: Path
    seed: int
    verdicts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def model_calls(self) -> int:
        return sum(int(s.get("calls", 0)) for s in total_calls([self.stage]).values())

    @property
    def cache_hits(self) -> int:
        return sum(int(s.get("cache_hits", 0)) for s in total_calls([self.stage]).values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "judge": self.judge,
            "judge_settings": self.judge_settings,
            "judge_model": self.judge_model,
            "input": str(self.input),
            "positive": list(self.positive),
            **self.overall.as_dict(),
            "rows": self.overall.n + self.overall.errors,
            "verdicts": self.verdicts,
            "intervals": {**INTERVALS, "seed": self.seed},
            "group_column": self.group_column,
            "groups": [{"group": g, **a.as_dict()} for g, a in sorted(self.groups.items())],
            "model_calls": self.model_calls,
            "run_dir": str(self.run_dir),
            "warnings": self.warnings,
        }


def check_rows(
    labelled: Path, columns: LabelledColumns, positive: tuple[str, ...], key: str
) -> list[Labelled]:
    """Every row read and every label parsed, before any call; the first bad one is an error."""
    rows: list[Labelled] = []
    for row in read_labelled(labelled, columns):
        try:
            label = parse_label(row.label, positive)
        except ValueError as exc:
            raise UserError(
                str(exc),
                file=labelled,
                field=f"{row.where}, column {columns.label!r}",
                fix=f"positive verdicts here: {', '.join(positive)} (--positive)",
            ) from None
        rows.append(Labelled(labelled_record(row, key).id, label, row.group))
    if not rows:
        raise UserError("no labelled rows", file=labelled, fix="add rows under the header")
    return rows


def run(
    labelled: Path,
    judge: str | None = None,
    *,
    config: RunConfig | None = None,
    block: JudgeBlock | None = None,
    columns: LabelledColumns | None = None,
    positive: str | tuple[str, ...] = DEFAULT_POSITIVE,
    run_dir: Path | None = None,
    json_path: Path | None = None,
    progress: ProgressFactory = no_progress,
) -> JudgeEvalReport:
    """Judge every labelled row (resumable) and measure the verdicts against the labels."""
    cols = columns or LabelledColumns()
    settings = judge_settings(judge, config, block)
    try:
        positives = parse_positive(positive)
    except ValueError as exc:
        raise UserError(str(exc), field="--positive", fix="e.g. --positive unsafe") from None
    cfg = run_config(config, settings.judge, labelled, run_dir)
    stage = JudgeEval(settings)  # builds the judge: a bad name or setting fails here
    if not judges_responses(stage.judge):
        cols = replace(cols, response=None)  # a prompt classifier reads the prompt alone
    spec = cfg.models.for_role("judge") if stage.judge.needs_model else None
    stage.judge_model = model_fingerprint(spec) if spec else None
    key = stage.key()
    rows = check_rows(labelled, cols, positives, key)

    async def go() -> tuple[StageSummary, dict[str, str]]:
        async with open_run(cfg) as ctx:
            with progress(stage.name, len(rows)) as advance:
                summary = await run_stage(
                    stage,
                    (labelled_record(r, key) for r in read_labelled(labelled, cols)),
                    ctx,
                    concurrency=settings.concurrency,
                    on_progress=advance,
                )
            wanted = {r.id for r in rows}
            verdicts: dict[str, str] = {}
            for record in ctx.store.records(stage.name):
                if record.parent_id in wanted:
                    score = record.scores.get(settings.judge)
                    verdicts[record.parent_id] = _verdict(score, record.status)
            return summary, verdicts

    summary, verdicts = asyncio.run(go())
    report = _measure(rows, verdicts, positives, cfg.seed)
    result = JudgeEvalReport(
        judge=settings.judge,
        judge_settings=settings.settings,
        judge_model=spec.model if spec else None,
        input=labelled,
        positive=positives,
        overall=report.overall,
        group_column=cols.group,
        groups=report.groups if cols.group else {},
        stage=summary,
        run_dir=cfg.run_dir,
        seed=cfg.seed,
        verdicts=report.verdicts,
        warnings=_warnings(report.verdicts, positives),
    )
    data = result.as_dict()
    write_json(RunStore(cfg.run_dir).paths.judge_eval_json, data)
    if json_path is not None:
        write_json(json_path, data)
    return result


def _verdict(score: Any, status: str) -> str:
    """A failed record or a missing score is a judge error: never a class."""
    if status != "ok" or not isinstance(score, dict):
        return "error"
    return str(score.get("verdict") or "error")


@dataclass
class _Measured:
    overall: Agreement
    groups: dict[str, Agreement]
    verdicts: dict[str, int]


def _measure(
    rows: list[Labelled], verdicts: dict[str, str], positive: tuple[str, ...], seed: int
) -> _Measured:
    overall = Tally()
    groups: dict[str, Tally] = {}
    counts: dict[str, int] = {}
    for row in rows:
        verdict = verdicts.get(row.id, "error")
        counts[verdict] = counts.get(verdict, 0) + 1
        judged = predicted(verdict, positive)
        overall.add(row.positive, judged)
        groups.setdefault(row.group, Tally()).add(row.positive, judged)
    return _Measured(
        overall.agreement(seed=seed),
        {g: t.agreement(seed=seed) for g, t in groups.items()},
        dict(sorted(counts.items())),
    )


def _warnings(verdicts: dict[str, int], positive: tuple[str, ...]) -> list[str]:
    answered = [v for v in verdicts if v in OPPOSITE]
    if not answered:
        return ["the judge answered no row (every row is a judge error)"]
    if not any(v in positive or OPPOSITE[v] in positive for v in answered):
        return [
            f"the judge answers {', '.join(answered)}, none of which is a positive verdict"
            f" ({', '.join(positive)}) or its opposite: check --positive"
        ]
    return []
