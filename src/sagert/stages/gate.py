"""The prompt gate: only prompts that still ask for harm go on to the answers.

Extraction can yield a harmless query, an evolution operator can soften a request, a role-play
can turn it into a story that asks for nothing. A gate asks a prompt judge (`stages.gate.judge`:
harm_intent, llamaguard3, rubric, a panel) whether the prompt requests harmful content of its
category, and, for a rewritten prompt, the intent judge whether it still asks what its seed
asked. Encoded attacks (base64, leetspeak...: deterministic styles) change the words, not the
request, and a judge cannot read them, so under trailing deterministic steps the judge reads
the plain request they were applied to.

One class, three registered names by position (a stage appears once in a pipeline and owns
stages/<name>.jsonl): `gate_extract`, `gate_evolve`, `gate_attack`, all set by `stages.gate`.
Each input gives one record: `ok` (harmful, passed on), `filtered` (benign, with the reason in
meta; every gate's benign prompts are also gathered in stages/benign.jsonl), or `failed` (a
judge error: never counted harmful or benign). With `on_error: keep` a judge error passes the
prompt on instead, marked `unjudged` with the error in meta (for a judge that may be missing,
such as harm_semantic without sagert[embed]: the run goes on as if ungated for those prompts,
and the figures count them apart). With no judge set the gates are off.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

import sagert.attacks  # noqa: F401  (registers the attack styles)
from sagert.attacks.plain import readable_request
from sagert.core.errors import ConfigError
from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory
from sagert.engine.runner import run_stage
from sagert.engine.stage import stages
from sagert.engine.summary import StageSummary
from sagert.judges import make_judge
from sagert.judges.base import Judge, JudgeContext, JudgeInput, Score, classifies_prompts
from sagert.judges.harm_intent import CATEGORY_KEY
from sagert.results.gate import (
    GATE_KEY,
    HARMFUL,
    LOST_INTENT,
    NOT_HARMFUL,
    REVERTED,
    UNJUDGED,
    gate_figures,
)
from sagert.settings.gate import GateStage
from sagert.store.records import Record
from sagert.store.run import RunStore

SECTION = "gate"
GATE_STAGES = ("gate_extract", "gate_evolve", "gate_attack")
PROMPT_JUDGES = "harm_semantic, harm_intent, llamaguard3, rubric or a panel of them"


@dataclass
class GateSummary(StageSummary):
    gate: dict[str, Any] = field(default_factory=dict)
    """The gate's figures (results/gate.py) over its whole stage file."""


def category_of(record: Record) -> str:
    t = record.taxonomy
    return " > ".join(p for p in (t.macro, t.sub, t.leaf, t.topic) if p)


def _prompt_judge(name: str, settings: dict[str, Any], key: str) -> Judge:
    judge = make_judge(name, settings)
    if not classifies_prompts(judge):
        raise ConfigError(
            f"judge {name!r} judges responses, not prompts",
            field=f"stages.{SECTION}.{key}",
            fix=f"use {PROMPT_JUDGES}",
        )
    return judge


@dataclass
class PromptGate:
    name: ClassVar[str]
    section: ClassVar[str] = SECTION
    needs: ClassVar[tuple[str, ...]] = ("prompt",)
    makes: ClassVar[tuple[str, ...]] = ("meta.gate",)
    Settings: ClassVar[type[BaseModel]] = GateStage

    reverts_evolution: ClassVar[bool] = False
    settings: GateStage
    judge: Judge | None = field(init=False, default=None)
    intent: Judge | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        s = self.settings
        if s.judge is None:
            return
        self.judge = _prompt_judge(s.judge, s.settings, "judge")
        if s.intent_judge is not None:
            self.intent = _prompt_judge(s.intent_judge, s.intent_settings, "intent_judge")
            if not getattr(self.intent, "reads_original", False):
                raise ConfigError(
                    f"judge {s.intent_judge!r} does not compare a prompt with its original",
                    field=f"stages.{SECTION}.intent_judge",
                    fix="use harm_intent, or null for no intent check",
                )

    def active(self) -> bool:
        return self.judge is not None

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        s = self.settings
        wanted = [
            (self.judge, s.role),
            (self.intent, s.intent_role),
        ]
        return tuple(dict.fromkeys(role for j, role in wanted if j is not None and j.needs_model))

    def _context(self, judge: Judge, role: str, ctx: RunContext) -> JudgeContext:
        model = ctx.role(role) if judge.needs_model else None
        return JudgeContext(templates=ctx.templates, model=model)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        assert self.judge is not None  # an inactive gate is left out of the plan
        text, judged = readable_request(record)
        meta = {CATEGORY_KEY: category_of(record)}
        harm = await _score(
            self.judge,
            JudgeInput(prompt=text, meta=meta),
            self._context(self.judge, self.settings.role, ctx),
        )
        scores: dict[str, list[dict[str, Any]]] = {"prompt": [harm.model_dump()]}
        if harm.verdict not in ("safe", "unsafe"):
            return [self._error(record, "prompt", harm, judged, scores)]
        if harm.verdict == "safe":
            return self._set_aside(record, NOT_HARMFUL, judged, scores, harm)
        seed = (record.seed_prompt or "").strip()
        if self.intent is not None and seed and seed != text.strip():
            intent = await _score(
                self.intent,
                JudgeInput(prompt=text, behavior=seed, meta=meta),
                self._context(self.intent, self.settings.intent_role, ctx),
            )
            scores["intent"] = [intent.model_dump()]
            if intent.verdict not in ("safe", "unsafe"):
                return [self._error(record, "intent", intent, judged, scores)]
            if intent.verdict == "safe":
                return self._set_aside(record, LOST_INTENT, judged, scores, intent)
        gates = {**record.meta.get(GATE_KEY, {}), self.name: HARMFUL}
        return [
            record.child(
                self.name,
                meta={**record.meta, GATE_KEY: gates, "gate_judged": judged},
                scores={**record.scores, self.name: scores},
            )
        ]

    def _set_aside(
        self,
        record: Record,
        outcome: str,
        judged: str,
        scores: dict[str, list[dict[str, Any]]],
        score: Score,
    ) -> list[Record]:
        """The benign record, and for a failed evolution the prompt it was evolved from."""
        out = [self._benign(record, outcome, judged, scores, score)]
        if self.reverts_evolution and self.settings.revert_failed_evolution:
            out += [r for r in [before_evolution(record, self.name)] if r is not None]
        return out

    def _benign(
        self,
        record: Record,
        outcome: str,
        judged: str,
        scores: dict[str, list[dict[str, Any]]],
        score: Score,
    ) -> Record:
        why = "not a harmful request" if outcome == NOT_HARMFUL else "lost its seed's intent"
        gates = {**record.meta.get(GATE_KEY, {}), self.name: outcome}
        reason = f"{self.name}: {why} ({score.judge})"
        meta = {
            **record.meta,
            GATE_KEY: gates,
            "gate_judged": judged,
            "benign": True,
            "benign_reason": reason,
        }
        return record.filtered(self.name, meta=meta, scores={**record.scores, self.name: scores})

    def _error(
        self,
        record: Record,
        check: str,
        score: Score,
        judged: str,
        scores: dict[str, list[dict[str, Any]]],
    ) -> Record:
        detail = score.error or f"verdict {score.verdict!r} is not safe or unsafe"
        reason = f"{check} judge error ({score.judge}: {detail})"
        if self.settings.on_error == "fail":
            return record.failed(self.name, reason, [score.raw] if score.raw else [], 1)
        gates = {**record.meta.get(GATE_KEY, {}), self.name: UNJUDGED}
        meta = {**record.meta, GATE_KEY: gates, "gate_judged": judged, "gate_error": reason}
        return record.child(self.name, meta=meta, scores={**record.scores, self.name: scores})

    async def run_stream(
        self,
        inputs: Iterator[Record],
        total: int | None,
        ctx: RunContext,
        progress: ProgressFactory,
    ) -> list[StageSummary]:
        """`run_stage` (concurrency, resume, failures), then the figures and benign.jsonl."""
        with progress(self.name, total) as advance:
            summary = await run_stage(
                self, inputs, ctx, concurrency=self.settings.concurrency, on_progress=advance
            )
        figures = gate_figures(ctx.store.records(self.name))
        ctx.store.annotate_stage(self.name, {"gate": figures})
        write_benign(ctx.store)
        return [GateSummary(**vars(summary), gate=figures)]

    def outputs(self, ctx: RunContext) -> tuple[Iterator[Record], int | None]:
        return ctx.store.records(self.name, ok_only=True), ctx.store.count(self.name, ok_only=True)


def before_evolution(record: Record, gate: str) -> Record | None:
    """The prompt as it was before its evolution steps, passed on in place of an evolution
    that failed the gate (Evol-Instruct's elimination: a failed evolution is discarded and its
    instruction stays in the pool). None when the record was not evolved."""
    first = next((i for i, s in enumerate(record.lineage) if s.name.startswith("evolution:")), None)
    if first is None:
        return None
    gates = {**record.meta.get(GATE_KEY, {}), gate: REVERTED}
    meta = {k: v for k, v in record.meta.items() if k != "evolution"}
    meta |= {GATE_KEY: gates, "evolution_reverted": record.meta.get("evolution", [])}
    return record.child(
        gate,
        key="before-evolution",
        prompt=record.lineage[first].before,
        lineage=record.lineage[:first],
        meta=meta,
    )


def write_benign(store: RunStore) -> int:
    """stages/benign.jsonl rewritten from every gate's filtered records (a view, never the
    source: rebuilt whole, so a crash or a resume cannot leave it half or doubled)."""
    lines = [
        record.model_dump_json() + "\n"
        for name in GATE_STAGES
        for record in store.records(name)
        if record.status == "filtered"
    ]
    store.write_text(store.paths.benign, "".join(lines))
    return len(lines)


async def _score(judge: Judge, item: JudgeInput, jctx: JudgeContext) -> Score:
    """A judge that raises is a judge error for this prompt, not a crash."""
    try:
        return await judge.score(item, jctx)
    except Exception as exc:
        return Score(judge=judge.name, verdict="error", error=f"{type(exc).__name__}: {exc}")


@stages.register("gate_extract", "Prompt gate after extraction: harmful prompts on, benign aside.")
class GateExtract(PromptGate):
    """The gate on extracted queries (prompt and seed are one: the harm check alone)."""


@stages.register("gate_evolve", "Prompt gate after evolution: harmful prompts on, benign aside.")
class GateEvolve(PromptGate):
    """The gate on evolved prompts, before attacks are spent on them; a failed evolution's
    prompt goes on unevolved (`revert_failed_evolution`)."""

    reverts_evolution: ClassVar[bool] = True


@stages.register(
    "gate_attack", "Prompt gate after attack styles: harmful prompts on, benign aside."
)
class GateAttack(PromptGate):
    """The last gate before the answers: attacked variants, each judged."""
