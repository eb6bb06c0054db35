"""`contrast`: a pair per contrast prompt: the aligned role's helpful answer as chosen, an
unwarranted refusal as rejected, both validated by the refusal judge.

The chosen side is `n_samples` answers of the aligned role under the same safety system prompt
as the harmful pairs (responses stage), without any prefill (a prefill opens a refusal); the
judge must find one that did not refuse, and the best of those is kept (stages/best_of.py).
The rejected side is, by default, a refusal from `contrast/refusal.j2` (wording varied by a
per-record seed, no model call): an over-refusal is a stock refusal in practice, the template
always is one, and a model asked to refuse harmless requests is unreliable (the unaligned role
is told to comply with everything; tiny models ignore system prompts). `rejected_from: target`
(or another role) asks that model under `contrast/over_cautious_system.j2` instead, for
refusals in the model's own words. Either way the judge must find the rejected one a refusal.

When fewer pairs pass than the share wants, the stage asks `contrast_prompts` for more
candidates (`top_up` rounds at most, each sized by the pass rate so far) and pairs those; the
rounds are recorded, so a re-run repeats none of them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from sagert.core.errors import ConfigError
from sagert.core.seeds import record_seed
from sagert.engine.answers import answer_samples
from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory
from sagert.engine.runner import run_stage
from sagert.engine.stage import stages
from sagert.engine.summary import StageSummary, stopped_by
from sagert.judges import make_judge
from sagert.judges.base import Judge, JudgeContext, JudgeInput, judge_kind
from sagert.models.model import ModelCallError
from sagert.models.types import Message
from sagert.results.contrast import CONTRAST_KIND, candidates_wanted
from sagert.settings.contrast import ContrastStage
from sagert.settings.run import RunConfig
from sagert.settings.stages import ResponsesStage
from sagert.stages.best_of import pick_best
from sagert.stages.contrast import (
    CONTRAST_KEY,
    SECTION,
    ContrastPrompts,
    ContrastSummary,
    score_safely,
    stage_figures,
)
from sagert.stages.contrast_screen import left_out_ids
from sagert.stages.pairs import CHOSEN, REJECTED, aligned_system
from sagert.store.records import Failure, Record, Response

REFUSAL_TEMPLATE = "contrast/refusal.j2"
OVER_CAUTIOUS_TEMPLATE = "contrast/over_cautious_system.j2"
HELPFUL, REFUSED = frozenset({"complied"}), frozenset({"refused"})
"""A contrast pair's good verdicts: the chosen answer complied, the rejected one refused."""
MIN_PASS_RATE = 0.25
"""A top-up asks for at most 1 / MIN_PASS_RATE candidates per missing pair (when almost none
passed, the rate seen is no guide)."""


def candidates_missing(target: int, kept: int, tried: int, oversample: float) -> int:
    """Candidates to add for the pairs still missing, at the pass rate seen so far; at most as
    many as the share first wanted, so one bad round cannot ask for thousands."""
    if kept >= target:
        return 0
    rate = max(kept / tried if tried else 0.0, MIN_PASS_RATE)
    return min(math.ceil((target - kept) / rate), max(1, candidates_wanted(target, oversample)))


@dataclass(frozen=True)
class ContrastDecision:
    keep: bool
    reason: str
    chosen: int | None = None
    rejected: int | None = None


def decide_contrast(record: Record, judge: str) -> ContrastDecision:
    """Keep when a chosen answer did not refuse (the best of them) and a rejected one did."""
    verdicts = record.scores.get(judge)
    if not isinstance(verdicts, dict):
        return ContrastDecision(False, f"not judged by {judge}")
    chosen = [v["verdict"] for v in verdicts.get(CHOSEN, [])]
    rejected = [v["verdict"] for v in verdicts.get(REJECTED, [])]
    best = pick_best(
        record.responses.get(CHOSEN, []), verdicts.get(CHOSEN, []), HELPFUL, harm_scores=False
    )
    refusal = next((i for i, v in enumerate(rejected) if v in REFUSED), None)
    if best is not None and refusal is not None:
        return ContrastDecision(True, "kept", best, refusal)
    if best is None:
        why = "judge error" if chosen and all(v == "error" for v in chosen) else "refused"
        return ContrastDecision(False, f"chosen {why} ({', '.join(chosen) or 'no answer'})")
    why = "judge error" if rejected and all(v == "error" for v in rejected) else "not a refusal"
    return ContrastDecision(False, f"rejected {why} ({', '.join(rejected) or 'no answer'})")


@stages.register(
    "contrast",
    "Contrast pairs: a helpful chosen answer and an unwarranted refusal, refusal-judged.",
)
@dataclass
class ContrastPairs:
    name: ClassVar[str]
    section: ClassVar[str] = SECTION
    needs: ClassVar[tuple[str, ...]] = ("prompt", "meta.contrast")
    makes: ClassVar[tuple[str, ...]] = ("responses", "scores", "meta.pair")
    Settings: ClassVar[type[BaseModel]] = ContrastStage

    settings: ContrastStage
    responses: ResponsesStage = field(default_factory=ResponsesStage)
    prompts: ContrastPrompts | None = None
    """The candidates' stage, asked for more when too few pairs pass (None: no top-up)."""
    judge: Judge = field(init=False)

    @classmethod
    def from_config(cls, config: RunConfig) -> ContrastPairs:
        """The section, the responses stage's safety system prompt for the chosen side, and the
        candidates' stage for top-ups."""
        s = config.stages.contrast
        prompts = ContrastPrompts.from_config(config) if s.top_up and s.share > 0 else None
        return cls(s, config.stages.responses, prompts)

    def __post_init__(self) -> None:
        self.judge = make_judge(self.settings.judge, self.settings.judge_settings)
        if judge_kind(self.judge) != "refusal":
            raise ConfigError(
                f"judge {self.settings.judge!r} says whether a text is harmful, not whether it"
                " refused",
                field=f"stages.{SECTION}.judge",
                fix="use a refusal judge: refusal, refusal_semantic or xstest",
            )

    def active(self) -> bool:
        return self.settings.share > 0

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")

    def roles(self) -> tuple[str, ...]:
        rejected = (
            () if self.settings.rejected_from == "template" else (self.settings.rejected_from,)
        )
        judge = ("judge",) if self.judge.needs_model else ()
        return tuple(dict.fromkeys(("aligned", *rejected, *judge)))

    async def run_stream(
        self,
        inputs: Iterator[Record],
        total: int | None,
        ctx: RunContext,
        progress: ProgressFactory,
    ) -> list[StageSummary]:
        """Pairs for the candidates; then, while too few passed, top-up rounds of candidates
        and their pairs. A round is counted once its candidates are on record (the prompts
        stage's `topped_up`): a killed run pairs them on resume instead of asking again, and
        a candidate half made when the run died has the same id the next time."""
        done = int(stage_figures(ctx, self.name).get("top_up_rounds", 0))
        summaries: list[StageSummary] = [await self._pairs(inputs, total, ctx, progress, done)]
        while self.prompts is not None and done < self.settings.top_up:
            more = self._missing(ctx, self.prompts)
            if more == 0 or stopped_by(summaries):
                break
            summaries.append(await self.prompts.top_up(more, ctx, progress))
            done += 1
            self._annotate(ctx, self._figures(ctx, done))
            inputs, total = self.prompts.outputs(ctx)
            summaries.append(await self._pairs(inputs, total, ctx, progress, done))
        return summaries

    def _missing(self, ctx: RunContext, prompts: ContrastPrompts) -> int:
        """Candidates a top-up round asks for (0: the share's target is reached)."""
        left_out = left_out_ids(ctx.store, prompts.name)
        records = [r for r in ctx.store.records(self.name) if r.parent_id not in left_out]
        kept = sum(r.status == "ok" for r in records)
        target = int(prompts.figures(ctx).get("target", 0))
        return candidates_missing(target, kept, len(records), self.settings.oversample)

    def _annotate(self, ctx: RunContext, figures: dict[str, Any]) -> None:
        ctx.store.annotate_stage(self.name, {CONTRAST_KEY: figures})

    async def _pairs(
        self,
        inputs: Iterator[Record],
        total: int | None,
        ctx: RunContext,
        progress: ProgressFactory,
        rounds: int,
    ) -> ContrastSummary:
        """`run_stage` (concurrency, resume, failures), then the figures of the whole file."""
        with progress(self.name, total) as advance:
            summary = await run_stage(
                self, inputs, ctx, concurrency=self.settings.concurrency, on_progress=advance
            )
        figures = self._figures(ctx, rounds)
        self._annotate(ctx, figures)
        return ContrastSummary(**vars(summary), contrast=figures)

    def _figures(self, ctx: RunContext, rounds: int) -> dict[str, Any]:
        records = list(ctx.store.records(self.name))
        kept = [r for r in records if r.status == "ok"]
        dropped = Counter(
            r.failure.reason.removeprefix("dropped: ").split(" (", 1)[0]
            for r in records
            if r.failure is not None
        )
        styles = Counter(str(r.meta.get(CONTRAST_KEY, {}).get("style")) for r in kept)
        figures = {
            "kept": len(kept),
            "dropped": sum(dropped.values()),
            "dropped_by_reason": dict(dropped.most_common()),
            "kept_by_style": dict(sorted(styles.items())),
            "judge": self.judge.name,
            "rejected_from": self.settings.rejected_from,
            "top_up_rounds": rounds,
        }
        return figures

    def outputs(self, ctx: RunContext) -> tuple[Iterator[Record], int | None]:
        return ctx.store.records(self.name, ok_only=True), ctx.store.count(self.name, ok_only=True)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        try:
            chosen = await self._chosen(record, ctx)
            rejected = await self._rejected(record, ctx)
        except ModelCallError as exc:
            raw = [exc.raw] if exc.raw else []
            return [record.failed(self.name, f"answer: {exc}", raw, exc.attempts)]
        jctx = JudgeContext(
            templates=ctx.templates,
            model=ctx.role("judge") if self.judge.needs_model else None,
        )
        verdicts: dict[str, list[dict[str, Any]]] = {}
        for side, answers in ((CHOSEN, chosen), (REJECTED, rejected)):
            verdicts[side] = [
                (
                    await score_safely(
                        self.judge, JudgeInput(prompt=record.prompt or "", response=a.text), jctx
                    )
                ).model_dump()
                for a in answers
            ]
        judged = record.child(
            self.name,
            responses={CHOSEN: chosen, REJECTED: rejected},
            scores={**record.scores, self.judge.name: verdicts},
        )
        decision = decide_contrast(judged, self.judge.name)
        if not decision.keep:
            failure = Failure(stage=self.name, reason=f"dropped: {decision.reason}")
            return [judged.model_copy(update={"status": "failed", "failure": failure})]
        pair = {
            "chosen": decision.chosen,
            "rejected": decision.rejected,
            "judge": self.judge.name,
            "validated_by": "refusal",
            "kind": CONTRAST_KIND,
        }
        return [judged.model_copy(update={"meta": {**judged.meta, "pair": pair}})]

    def _messages(self, record: Record, system: str | None) -> list[Message]:
        messages = [Message(role="user", content=record.prompt or "")]
        if system:
            messages.insert(0, Message(role="system", content=system))
        return messages

    async def _chosen(self, record: Record, ctx: RunContext) -> list[Response]:
        model = ctx.role("aligned")
        system = None if model.spec.system_prompt else aligned_system(self.responses, ctx)
        return await answer_samples(
            model,
            self._messages(record, system),
            self.settings.n_samples,
            lambda i: record_seed(ctx.config.seed, record.id, f"{self.name}-{CHOSEN}", i),
        )

    async def _rejected(self, record: Record, ctx: RunContext) -> list[Response]:
        seed = record_seed(ctx.config.seed, record.id, f"{self.name}-{REJECTED}", 0)
        source = self.settings.rejected_from
        if source == "template":
            topic = str(record.meta.get("topic") or record.taxonomy.leaf or "this subject")
            text = ctx.templates.render(REFUSAL_TEMPLATE, variant=seed, topic=topic.lower())
            return [Response(text=text, model=f"template:{REFUSAL_TEMPLATE}")]
        model = ctx.role(source)
        system = None if model.spec.system_prompt else ctx.templates.render(OVER_CAUTIOUS_TEMPLATE)
        return await answer_samples(model, self._messages(record, system), 1, lambda i: seed)
