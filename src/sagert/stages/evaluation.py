"""The two record stages of an evaluation, resumable through `run_stage` like `generate`.

`eval_attack`: each (prompt, attack) gets its attacked text once, so every target sees the same
text. `evaluate`: each (attacked prompt, target) gets n answers, each judged; one result record
per answer. A target that fails for good is a failed record (a target error); a judge that
cannot answer is an `error` verdict. Neither is ever counted safe or unsafe.

Both are registered stages; `sagert evaluate` builds them from the evaluate section (their
roles include the user-named targets, so the evaluate workflow opens the run with those models).
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

import sagert.attacks  # noqa: F401  (registers the attack styles)
from sagert.attacks.base import (
    TransformContext,
    TransformError,
    apply_chain,
    attacks,
    transform_options,
)
from sagert.core.errors import ConfigError
from sagert.core.ids import stable_id
from sagert.core.seeds import record_rng, record_seed
from sagert.engine.answers import Sample, sample_answers
from sagert.engine.context import RunContext
from sagert.engine.stage import stages
from sagert.judges import make_judge
from sagert.judges.base import Judge, JudgeContext, JudgeInput, Score, error_score, judge_kind
from sagert.models.types import Message
from sagert.results.metrics import EVAL_ATTACK_STAGE, EVALUATE_STAGE, OVER_REFUSAL_KEY
from sagert.settings.evaluate import EvaluateSettings
from sagert.store.records import Failure, Record
from sagert.translation.english import EnglishReader, reads_only_some, score_readable
from sagert.translation.translate import Translator

NO_ATTACK = "none"
TRANSLATOR = "translator"
Reading = tuple[Translator | None, int]
"""How an English-only judge reads: the translator (None: as given) and the run seed."""


def attack_label(source_attack: Any, attack: str) -> str:
    """A source's own attack (ALERT adversarial, a generated run) followed by ours."""
    parts = [str(a) for a in (source_attack, attack) if a and a != NO_ATTACK]
    return "+".join(parts) or NO_ATTACK


def attack_plan(source: Record, attack: str) -> Record:
    """The input of `eval_attack` for one (prompt, attack): resumed as a unit."""
    return source.model_copy(
        update={
            "id": stable_id(source.id, "eval-plan", attack),
            "parent_id": source.id,
            "meta": {**source.meta, "eval_attack": attack},
        }
    )


def target_plan(attacked: Record, target: str) -> Record:
    """The input of `evaluate` for one (attacked prompt, target): resumed as a unit."""
    return attacked.model_copy(
        update={
            "id": stable_id(attacked.id, "eval-target", target),
            "parent_id": attacked.id,
            "meta": {**attacked.meta, "target": target},
        }
    )


def is_llm_driven(attack: str) -> bool:
    if attack == NO_ATTACK:
        return False
    return any(not attacks.get(style).deterministic for style in attack.split("+"))


@stages.register(EVAL_ATTACK_STAGE, "Each (prompt, attack) gets its attacked text once.")
@dataclass
class EvalAttack:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt", "meta.eval_attack")
    makes: ClassVar[tuple[str, ...]] = ("prompt", "lineage", "meta.attack")
    Settings: ClassVar[type[BaseModel]] = EvaluateSettings

    settings: EvaluateSettings

    def spec(self) -> dict[str, Any]:
        s = self.settings
        return {
            "attacks": list(s.attacks),
            "language": s.language,
            "jailbreak_templates": str(s.jailbreak_templates) if s.jailbreak_templates else None,
        }

    def roles(self) -> tuple[str, ...]:
        return ("generator",) if any(map(is_llm_driven, self.settings.attacks)) else ()

    def _options(self) -> dict[str, Any]:
        return transform_options(self.settings.jailbreak_templates, self.settings.language)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        attack = str(record.meta["eval_attack"])
        meta = {**record.meta, "attack": attack_label(record.meta.get("attack"), attack)}
        if attack == NO_ATTACK:
            return [record.child(self.name, meta=meta)]
        # Seeded by the prompt and the attack alone: the same text whatever the run order.
        source_id = record.parent_id or record.id
        purpose = f"{self.name}:{attack}"
        tctx = TransformContext(
            rng=record_rng(ctx.config.seed, source_id, purpose),
            templates=ctx.templates,
            model=ctx.role("generator") if is_llm_driven(attack) else None,
            seed=record_seed(ctx.config.seed, source_id, purpose),
            options=self._options(),
        )
        try:
            text, steps = await apply_chain(record, attack.split("+"), "attack", tctx)
        except TransformError as exc:
            return [record.failed(self.name, exc.reason, exc.raw, exc.attempts)]
        return [record.child(self.name, prompt=text, lineage=[*record.lineage, *steps], meta=meta)]


@stages.register(EVALUATE_STAGE, "Each target answers each attacked prompt; every answer judged.")
@dataclass
class EvalRespond:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt", "meta.target")
    makes: ClassVar[tuple[str, ...]] = ("responses", "scores", "meta.sample")
    Settings: ClassVar[type[BaseModel]] = EvaluateSettings

    settings: EvaluateSettings
    targets: tuple[str, ...] = field(init=False)
    judge: Judge = field(init=False)
    refusal: Judge = field(init=False)
    reader: EnglishReader = field(init=False)
    """The language detector, and back-translation for judges that read only English."""

    def __post_init__(self) -> None:
        self.targets = tuple(self.settings.targets)
        s = self.settings
        self.judge = make_judge(s.judge, s.judge_settings)
        # Over-refusal needs a refusal detector whatever the main judge is (by default the
        # marker list, which costs no call).
        self.refusal = make_judge(s.over_refusal_judge, s.over_refusal_judge_settings)
        if judge_kind(self.refusal) != "refusal":
            raise ConfigError(
                f"judge {s.over_refusal_judge!r} does not detect refusals",
                field="evaluate.over_refusal_judge",
                fix="use refusal, xstest or another refusal judge (verdicts refused/complied)",
            )
        self.reader = EnglishReader()

    @property
    def _back_translates(self) -> bool:
        judges = (self.judge, self.refusal)
        return self.settings.back_translate and any(map(reads_only_some, judges))

    @property
    def _needs_judge_model(self) -> bool:
        return self.judge.needs_model or self.refusal.needs_model

    def spec(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "n_samples": self.settings.n_samples,
            "judge": self.settings.judge,
            "judge_settings": self.settings.judge_settings,
            "over_refusal_judge": self.settings.over_refusal_judge,
            "over_refusal_judge_settings": self.settings.over_refusal_judge_settings,
            "back_translate": self.settings.back_translate,
        }

    def roles(self) -> tuple[str, ...]:
        judge = ("judge",) if self._needs_judge_model else ()
        return (*self.targets, *judge, *((TRANSLATOR,) if self._back_translates else ()))

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        target = str(record.meta["target"])
        model = ctx.role(target)
        user = ctx.templates.render("respond/user.j2", prompt=record.prompt or "")
        jctx = JudgeContext(
            templates=ctx.templates,
            model=ctx.role("judge") if self._needs_judge_model else None,
        )
        translator = None
        if self._back_translates:
            translator = Translator(ctx.role(TRANSLATOR), ctx.templates, self.reader.detector)
        reading: Reading = (translator, ctx.config.seed)
        # The sample seed depends on the attacked prompt, not the target: targets get the
        # same seeds, so a comparison is like for like.
        prompt_id = record.parent_id or record.id
        samples = sample_answers(
            model,
            [Message(role="user", content=user)],
            self.settings.n_samples,
            lambda sample: record_seed(ctx.config.seed, prompt_id, self.name, sample),
        )
        out: list[Record] = []
        async with aclosing(samples):
            async for sample in samples:
                out.append(
                    await self._result(record, sample, target, model.spec.model, jctx, reading)
                )
        return out

    async def _result(
        self,
        record: Record,
        sample: Sample,
        target: str,
        model: str,
        jctx: JudgeContext,
        reading: Reading,
    ) -> Record:
        """One answer with its scores, or a target error: a failed record, counted apart."""
        meta = {
            **record.meta,
            "sample": sample.index,
            "model": model,
            "judge": self.judge.name,
            OVER_REFUSAL_KEY: self.refusal.name,
        }
        language = self._language(record)
        if language is not None:
            meta["language"] = language
        if sample.error is not None:
            exc = sample.error
            failure = Failure(
                stage=self.name,
                reason=f"target error: {exc}",
                raw=[exc.raw] if exc.raw else [],
                attempts=exc.attempts,
            )
            return record.child(
                self.name, sample.index, status="failed", failure=failure, meta=meta
            )
        response = sample.unwrap()
        answered_in = self.reader.detector.detect(response.text).language
        if answered_in is not None:
            meta["response_language"] = answered_in
        scores = await self._scores(record, response.text, jctx, reading)
        return record.child(
            self.name, sample.index, responses={target: [response]}, scores=scores, meta=meta
        )

    def _language(self, record: Record) -> str | None:
        """The prompt's language: the record's own (a translation, a loader's column), else
        the detected language of the request as written before any attack."""
        given = record.meta.get("language")
        if given:
            return str(given)
        return self.reader.detector.detect(record.seed_prompt or record.prompt or "").language

    async def _score(
        self, judge: Judge, item: JudgeInput, jctx: JudgeContext, reading: Reading
    ) -> Score:
        """A judge's score, read in English when it reads only English (back_translate)."""
        translator, seed = reading
        try:
            return await score_readable(judge, item, jctx, self.reader, translator, seed)
        except Exception as exc:  # a judge that raises is a judge error, not a target error
            return error_score(judge.name, f"{type(exc).__name__}: {exc}")

    async def _scores(
        self, record: Record, text: str, jctx: JudgeContext, reading: Reading
    ) -> dict[str, Any]:
        # The judge reads the plain request (before any attack), so an encoded prompt does not
        # hide what was asked; the answer is the target's, as given.
        plain = record.seed_prompt or record.prompt or ""
        context = record.meta.get("context")
        item = JudgeInput(
            prompt=plain,
            response=text,
            behavior=plain,
            context=str(context) if context else None,
        )
        scores = {
            self.judge.name: (await self._score(self.judge, item, jctx, reading)).model_dump()
        }
        # A refusal detector that asks a model is asked about benign prompts only: that is
        # the only place its verdict is counted (over-refusal).
        wanted = not self.refusal.needs_model or record.meta.get("benign") is True
        if self.refusal.name != self.judge.name and wanted:
            refusal = await self._score(self.refusal, item, jctx, reading)
            scores[self.refusal.name] = refusal.model_dump()
        return scores
