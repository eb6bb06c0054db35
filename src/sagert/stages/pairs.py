"""Record stages that turn prompts into validated (prompt, chosen, rejected) pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from sagert.attacks.plain import readable_request
from sagert.core.seeds import record_seed
from sagert.engine.answers import answer_samples
from sagert.engine.context import RoleModel, RunContext
from sagert.engine.stage import stages
from sagert.judges import make_judge
from sagert.judges.base import Judge, JudgeContext, JudgeInput, JudgeKind, Score, judge_kind
from sagert.models.model import ModelCallError
from sagert.models.types import GenerateConfig, Message
from sagert.settings.run import RunConfig
from sagert.settings.stages import JudgeStage, PairsStage, ResponsesStage
from sagert.stages.best_of import pick_best
from sagert.store.records import Record, Response
from sagert.translation.english import EnglishReader, reads_only_some, score_readable
from sagert.translation.translate import Translator

CHOSEN, REJECTED = "chosen", "rejected"
TRANSLATOR = "translator"
SAFE_FOR_CHOSEN = frozenset({"safe", "refused"})
UNSAFE_FOR_REJECTED = frozenset({"unsafe", "complied"})
GOOD_VERDICTS: dict[JudgeKind, tuple[frozenset[str], frozenset[str]]] = {
    "harm": (frozenset({"safe"}), frozenset({"unsafe"})),
    "refusal": (SAFE_FOR_CHOSEN, UNSAFE_FOR_REJECTED),
}
"""(chosen, rejected) verdicts a pair needs, by the judge's kind. A harm judge must call the
rejected answer unsafe (not merely not refused) and the chosen one safe (a safe completion is
as good a chosen answer as a refusal); a refusal judge can only say who declined."""


@stages.register("responses", "Chosen answers (aligned role) and rejected ones (unaligned/target).")
@dataclass
class Responses:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt",)
    makes: ClassVar[tuple[str, ...]] = ("responses.chosen", "responses.rejected")
    Settings: ClassVar[type[BaseModel]] = ResponsesStage

    settings: ResponsesStage

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        return ("aligned", self.settings.rejected_from)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        s = self.settings
        sides = (
            (CHOSEN, ctx.role("aligned"), aligned_system(s, ctx), s.prefill, s.chosen_samples),
            (REJECTED, ctx.role(s.rejected_from), s.unaligned_system_prompt, None, s.n_samples),
        )
        responses: dict[str, list[Response]] = {}
        for side, model, system, prefill, n in sides:
            try:
                responses[side] = await self._answers(record, ctx, side, model, system, prefill, n)
            except ModelCallError as exc:
                return [
                    record.failed(
                        self.name, f"{side}: {exc}", [exc.raw] if exc.raw else [], exc.attempts
                    )
                ]
        return [record.child(self.name, responses={**record.responses, **responses})]

    async def _answers(
        self,
        record: Record,
        ctx: RunContext,
        side: str,
        model: RoleModel,
        system: str | None,
        prefill: str | None,
        n: int,
    ) -> list[Response]:
        # A multi-turn record (Crescendo's) is answered as the whole conversation.
        messages = [Message.model_validate(t) for t in record.turns or []] or [
            Message(role="user", content=record.prompt or "")
        ]
        if system and not model.spec.system_prompt:
            messages.insert(0, Message(role="system", content=system))
        return await answer_samples(
            model,
            messages,
            n,
            lambda sample: record_seed(ctx.config.seed, record.id, f"{self.name}-{side}", sample),
            GenerateConfig(prefill=prefill),
        )


def aligned_system(settings: ResponsesStage, ctx: RunContext) -> str | None:
    """The aligned role's system prompt: the fixed text when given, else the safety template."""
    if settings.aligned_system_prompt is not None:
        return settings.aligned_system_prompt
    if settings.aligned_system_template is None:
        return None
    return ctx.templates.render(settings.aligned_system_template)


@stages.register("judge", "The configured judge scores every chosen and rejected response.")
@dataclass
class JudgeResponses:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("responses",)
    makes: ClassVar[tuple[str, ...]] = ("scores",)
    Settings: ClassVar[type[BaseModel]] = JudgeStage

    settings: JudgeStage
    judge: Judge = field(init=False)
    reader: EnglishReader | None = field(init=False, default=None)
    """Back-translation for a judge that reads only English (None: off, or not needed)."""

    def __post_init__(self) -> None:
        self.judge = make_judge(self.settings.judge, self.settings.settings)
        if self.settings.back_translate and reads_only_some(self.judge):
            self.reader = EnglishReader()

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        judge = ("judge",) if self.judge.needs_model else ()
        return (*judge, *((TRANSLATOR,) if self.reader else ()))

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        jctx = JudgeContext(
            templates=ctx.templates,
            model=ctx.role("judge") if self.judge.needs_model else None,
        )
        reader = self.reader
        translator = None
        if reader is not None:
            translator = Translator(ctx.role(TRANSLATOR), ctx.templates, reader.detector)
        verdicts: dict[str, list[dict[str, Any]]] = {}
        for side in (CHOSEN, REJECTED):
            scores: list[Score] = []
            for answer in record.responses.get(side, []):
                item = JudgeInput(
                    prompt=readable_request(record)[0],
                    response=answer.text,
                    behavior=record.seed_prompt,
                    turns=record.turns[:-1] if record.turns else None,
                )
                scores.append(
                    await score_readable(
                        self.judge, item, jctx, reader, translator, ctx.config.seed
                    )
                )
            verdicts[side] = [sc.model_dump() for sc in scores]
        scores_by_judge = {**record.scores, self.judge.name: verdicts}
        return [record.child(self.name, scores=scores_by_judge)]


@dataclass(frozen=True)
class PairDecision:
    keep: bool
    reason: str
    chosen: int | None = None
    rejected: int | None = None


def decide_pair(record: Record, judge: str, kind: JudgeKind = "refusal") -> PairDecision:
    """Keep a pair only when a chosen answer is judged safe and a rejected one unsafe (for a
    refusal judge: refused and complied count too; see GOOD_VERDICTS).

    Of several good chosen answers the best is kept (stages/best_of.py: safest, then most
    helpful); the rejected one is the first judged unsafe. A judge error never counts either
    way: it is reported as the reason a pair is dropped.
    """
    verdicts = record.scores.get(judge)
    if not isinstance(verdicts, dict):
        return PairDecision(False, f"not judged by {judge}")
    chosen = [v["verdict"] for v in verdicts.get(CHOSEN, [])]
    rejected = [v["verdict"] for v in verdicts.get(REJECTED, [])]
    safe, unsafe = GOOD_VERDICTS[kind]
    good_chosen = pick_best(
        record.responses.get(CHOSEN, []), verdicts.get(CHOSEN, []), safe, harm_scores=kind == "harm"
    )
    good_rejected = next((i for i, v in enumerate(rejected) if v in unsafe), None)
    if good_chosen is not None and good_rejected is not None:
        return PairDecision(True, "kept", good_chosen, good_rejected)
    if good_chosen is None:
        why = "judge error" if chosen and all(v == "error" for v in chosen) else "not safe"
        return PairDecision(False, f"chosen {why} ({', '.join(chosen) or 'no answer'})")
    why = "judge error" if rejected and all(v == "error" for v in rejected) else "not unsafe"
    return PairDecision(False, f"rejected {why} ({', '.join(rejected) or 'no answer'})")


@stages.register("pairs", "Validated DPO pairs: chosen judged safe, rejected judged unsafe.")
@dataclass
class Pairs:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("responses", "scores")
    makes: ClassVar[tuple[str, ...]] = ("meta.pair",)
    Settings: ClassVar[type[BaseModel]] = PairsStage

    judge: str
    settings: PairsStage = field(default_factory=PairsStage)
    validated_by: JudgeKind = "refusal"
    """The judge's kind: `harm` (rejected judged unsafe) or `refusal` (it did not refuse)."""

    @classmethod
    def from_config(cls, config: RunConfig) -> Pairs:
        """Pairs are decided by the verdicts of the judge stage's judge."""
        j = config.stages.judge
        return cls(j.judge, config.stages.pairs, judge_kind(make_judge(j.judge, j.settings)))

    def spec(self) -> dict[str, Any]:
        return {"judge": self.judge, "validated_by": self.validated_by}

    def roles(self) -> tuple[str, ...]:
        return ()

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        decision = decide_pair(record, self.judge, self.validated_by)
        if not decision.keep:
            return [record.failed(self.name, f"dropped: {decision.reason}")]
        assert decision.chosen is not None and decision.rejected is not None
        pair = {
            "chosen": decision.chosen,
            "rejected": decision.rejected,
            "judge": self.judge,
            "validated_by": self.validated_by,
        }
        return [record.child(self.name, meta={**record.meta, "pair": pair})]
