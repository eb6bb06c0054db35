"""`judge_eval`: a judge scores each human-labelled row once, resumable like every stage.

The input record's id comes from the judge (name, settings, model) and the row's texts, not
from its label: relabelling a row re-uses its verdict, while another judge or judge model
judges anew. A judge that raises is an `error` verdict for that row, like in `evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from sagert.core.ids import stable_id
from sagert.engine.context import RunContext
from sagert.engine.stage import stages
from sagert.judges import make_judge
from sagert.judges.base import Judge, JudgeContext, JudgeInput, Score, error_score
from sagert.models.spec import ModelSpec
from sagert.settings.stages import JudgeStage
from sagert.store.labelled import LabelledRow
from sagert.store.records import Record

STAGE = "judge_eval"
SOURCE_STAGE = "labelled"


def model_fingerprint(spec: ModelSpec) -> str:
    """The judge model and what shapes its answers (not its limits, retries or key name)."""
    shaping = spec.model_dump(
        mode="json", include={"model", "base_url", "config", "system_prompt", "args"}
    )
    return f"{spec.model}#{stable_id(shaping)[:12]}"


def labelled_record(row: LabelledRow, judge_key: str) -> Record:
    """The stage's input for one row; `judge_key` says which judge (see `JudgeEval.key`)."""
    return Record(
        id=stable_id(SOURCE_STAGE, judge_key, row.row, row.prompt, row.response),
        stage=SOURCE_STAGE,
        prompt=row.prompt,
        meta={"source_row": row.row, "response": row.response, "group": row.group},
    )


@stages.register(STAGE, "A judge scores human-labelled rows (sagert judge-eval).")
@dataclass
class JudgeEval:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt", "meta.response")
    makes: ClassVar[tuple[str, ...]] = ("scores", "meta.judge")
    Settings: ClassVar[type[BaseModel]] = JudgeStage

    settings: JudgeStage
    judge_model: str | None = None
    """What makes the judge model answer as it does (see `model_fingerprint`); None: no model."""
    judge: Judge = field(init=False)

    def __post_init__(self) -> None:
        self.judge = make_judge(self.settings.judge, self.settings.settings)

    def key(self) -> str:
        """The judge's identity in the input ids: name, settings and model."""
        return stable_id(self.settings.judge, self.settings.settings, self.judge_model)

    def spec(self) -> dict[str, Any]:
        return {
            "judge": self.settings.judge,
            "judge_settings": self.settings.settings,
            "judge_model": self.judge_model,
        }

    def roles(self) -> tuple[str, ...]:
        return ("judge",) if self.judge.needs_model else ()

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        jctx = JudgeContext(
            templates=ctx.templates,
            model=ctx.role("judge") if self.judge.needs_model else None,
        )
        prompt = record.prompt or ""
        response = record.meta.get("response")
        item = JudgeInput(
            prompt=prompt,
            response=str(response) if response is not None else None,
            behavior=prompt,
        )
        try:
            score: Score = await self.judge.score(item, jctx)
        except Exception as exc:
            score = error_score(self.judge.name, f"{type(exc).__name__}: {exc}")
        meta = {**record.meta, "judge": self.judge.name}
        return [record.child(self.name, scores={self.judge.name: score.model_dump()}, meta=meta)]
