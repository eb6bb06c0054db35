"""`translate`: each record, whole, into each configured language (the translator role).

Placed after `pairs` (the default pipeline's last stage; off until `stages.translate.languages`
names a language), it turns every validated pair into one pair per language: the prompt (a
conversation turn by turn), the chosen and the rejected answer. Placed earlier (after
`attack`), it translates prompts, and the stages after it answer and judge them in that
language. Each (record, language) is its own input, so adding a language later translates only
what is new, and a language the model cannot write fails alone: the failure keeps the reason,
which check failed (`meta.translation.problem`: wrong_language, malformed...) and every raw
answer, and the stage's figures count them per language (manifest, closing summary).

A translation is a new record (id from its lineage) whose lineage ends with a
`translate:<code>` step naming the source record's id and its language; `meta.language` is the
language, `meta.translation` says where it came from. `seed_prompt` stays the source's, so the
seed split (training/split.py) keeps every translation of a held-out prompt out of training.
Verdicts are the source's: the pair was validated before it was translated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, ClassVar

from pydantic import BaseModel

from sagert.core.ids import stable_id
from sagert.core.languages import check_languages
from sagert.core.seeds import record_seed
from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory
from sagert.engine.runner import run_stage
from sagert.engine.stage import stages
from sagert.engine.summary import StageSummary
from sagert.results.translation import TRANSLATION_KEY, translation_figures
from sagert.settings.stages import TranslateStage
from sagert.store.records import Failure, LineageStep, Record, Response
from sagert.translation.detect import LanguageDetector
from sagert.translation.translate import TranslationError, Translator

ENCODED_STYLES = frozenset(
    {"base64", "rot13", "hex", "morse", "reversed", "leetspeak", "char_swap", "homoglyph"}
    | {"token_split"}
)
"""Attack styles whose output is no longer text in a language: not translated (set aside);
to attack in every language, put translate before attack (the styles then encode each one)."""
PLAN_KEY = "translate_to"
"""meta of a stage input: the language this (record, language) plan translates into."""
KINDS = {
    "user": "user's message in a conversation with an AI assistant",
    "assistant": "AI assistant's message in a conversation",
    "prompt": "user's request to an AI assistant",
    "answer": "AI assistant's answer",
}


@dataclass
class TranslateSummary(StageSummary):
    translation: dict[str, Any] = field(default_factory=dict)
    """Per language: translated, failed (by check), already in it (results/translation.py)."""


def language_plan(source: Record, language: str) -> Record:
    """The input for one (record, language): resumed as a unit."""
    return source.model_copy(
        update={
            "id": stable_id(source.id, "translate-plan", language),
            "parent_id": source.id,
            "meta": {**source.meta, PLAN_KEY: language},
        }
    )


@dataclass
class _Texts:
    """One record's texts into one language, each text translated once."""

    translator: Translator
    target: str
    seed: int
    plan_id: str
    done: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    unchecked: int = 0

    async def __call__(self, text: str, kind: str) -> str:
        if not text.strip():
            return text
        if text not in self.done:
            seed = record_seed(self.seed, self.plan_id, f"translate:{stable_id(text)}")
            result = await self.translator.translate(text, self.target, seed=seed, kind=KINDS[kind])
            self.done[text] = result.text
            self.attempts += result.attempts
            self.unchecked += result.detected is None
        return self.done[text]


@stages.register("translate", "Whole records (prompt, chosen, rejected) into each language.")
@dataclass
class Translate:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt",)
    makes: ClassVar[tuple[str, ...]] = ("meta.language", "meta.translation")
    Settings: ClassVar[type[BaseModel]] = TranslateStage

    settings: TranslateStage
    detector: LanguageDetector = field(default_factory=LanguageDetector)
    previous: str | None = field(init=False, default=None)
    """The stage whose records came in: passed on with the translations."""

    def __post_init__(self) -> None:
        check_languages(self.settings.languages, "stages.translate.languages")

    def active(self) -> bool:
        return bool(self.settings.languages)

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        return (self.settings.role,)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        target = str(record.meta[PLAN_KEY])
        meta = {k: v for k, v in record.meta.items() if k != PLAN_KEY}
        source_id = record.parent_id or record.id
        source = meta.get("language") or self.detector.detect(_all_text(record)).language
        info: dict[str, Any] = {"source_id": source_id, "from": source, "to": target}
        encoded = _encoded_by(record)
        if encoded is not None or source == target:
            info["skipped"] = "encoded" if encoded else "already"
            info["reason"] = f"encoded by {encoded}" if encoded else f"already in {target}"
            return [record.filtered(self.name, meta={**meta, TRANSLATION_KEY: info})]
        model = ctx.role(self.settings.role)
        info["translator"] = model.spec.model
        s = self.settings
        texts = _Texts(
            Translator(model, ctx.templates, self.detector, s.attempts, s.max_tokens),
            target,
            ctx.config.seed,
            record.id,
        )
        try:
            changes = await _translated(record, texts)
        except TranslationError as exc:
            info["problem"] = exc.problem
            failure = Failure(
                stage=self.name,
                reason=f"{target}: {exc.reason}",
                raw=exc.raw,
                attempts=exc.attempts,
            )
            return [
                record.child(
                    self.name,
                    status="failed",
                    failure=failure,
                    meta={**meta, TRANSLATION_KEY: info},
                )
            ]
        info.update(texts=len(texts.done), attempts=texts.attempts, unchecked=texts.unchecked)
        step = LineageStep(
            name=f"translate:{target}",
            args={"language": target, "from": source, "source_id": source_id},
            before=record.prompt or "",
            after=changes["prompt"],
        )
        kept = changes.pop("meta", meta)
        return [
            record.child(
                self.name,
                **changes,
                lineage=[*record.lineage, step],
                meta={**kept, "language": target, TRANSLATION_KEY: info},
            )
        ]

    async def run_stream(
        self,
        inputs: Iterator[Record],
        total: int | None,
        ctx: RunContext,
        progress: ProgressFactory,
    ) -> list[StageSummary]:
        """`run_stage` over every (record, language), then the figures per language."""
        languages = self.settings.languages
        seen: list[str] = []

        def plans() -> Iterator[Record]:
            for record in inputs:
                if not seen:
                    seen.append(record.stage)
                for language in languages:
                    yield language_plan(record, language)

        planned = total * len(languages) if total is not None else None
        with progress(self.name, planned) as advance:
            summary = await run_stage(
                self, plans(), ctx, concurrency=self.settings.concurrency, on_progress=advance
            )
        self.previous = seen[0] if seen else None
        figures = translation_figures(ctx.store.records(self.name))
        ctx.store.annotate_stage(self.name, {"translation": figures})
        return [TranslateSummary(**vars(summary), translation=figures)]

    def outputs(self, ctx: RunContext) -> tuple[Iterator[Record], int | None]:
        """The records that came in, then their translations."""
        name = self.previous
        before = ctx.store.records(name, ok_only=True) if name else iter(())
        count = ctx.store.count(name, ok_only=True) if name else 0
        records = chain(before, ctx.store.records(self.name, ok_only=True))
        return records, count + ctx.store.count(self.name, ok_only=True)


def _encoded_by(record: Record) -> str | None:
    for step in record.lineage:
        kind, _, style = step.name.partition(":")
        if kind == "attack" and style in ENCODED_STYLES:
            return style
    return None


def _all_text(record: Record) -> str:
    if record.turns:
        return "\n".join(t.get("content", "") for t in record.turns)
    return record.prompt or ""


async def _translated(record: Record, texts: _Texts) -> dict[str, Any]:
    """The record's fields in the target language: prompt, turns, answers (and pair)."""
    changes: dict[str, Any] = {}
    if record.turns:
        turns = [
            {**t, "content": await texts(t.get("content", ""), _turn_kind(t))} for t in record.turns
        ]
        changes["turns"] = turns
        last_user = next((t for t in reversed(record.turns) if t.get("role") == "user"), None)
        if last_user is not None and last_user.get("content") == record.prompt:
            changes["prompt"] = texts.done.get(record.prompt or "", record.prompt or "")
        else:
            changes["prompt"] = await texts(record.prompt or "", "prompt")
    else:
        changes["prompt"] = await texts(record.prompt or "", "prompt")
    pair = record.meta.get("pair")
    responses: dict[str, list[Response]] = {}
    if isinstance(pair, dict):
        # A validated pair: only its chosen and rejected answers travel (what is exported).
        picked = {"chosen": int(pair["chosen"]), "rejected": int(pair["rejected"])}
        for side, index in picked.items():
            answer = record.responses[side][index]
            text = await texts(answer.text, "answer")
            responses[side] = [answer.model_copy(update={"text": text})]
        changes["scores"] = _picked_scores(record.scores, str(pair.get("judge")), picked)
        changes["meta"] = {**record.meta, "pair": {**pair, "chosen": 0, "rejected": 0}}
        changes["meta"].pop(PLAN_KEY, None)
    else:
        for side, answers in record.responses.items():
            responses[side] = [
                a.model_copy(update={"text": await texts(a.text, "answer")}) for a in answers
            ]
    changes["responses"] = responses
    return changes


def _turn_kind(turn: dict[str, str]) -> str:
    return "assistant" if turn.get("role") == "assistant" else "user"


def _picked_scores(scores: dict[str, Any], judge: str, picked: dict[str, int]) -> dict[str, Any]:
    """The pair judge's verdicts on the two answers kept, at their new places (0 and 0)."""
    verdicts = scores.get(judge)
    if not isinstance(verdicts, dict):
        return scores
    kept = {
        side: [verdicts[side][i]] for side, i in picked.items() if len(verdicts.get(side, [])) > i
    }
    return {**scores, judge: kept}
