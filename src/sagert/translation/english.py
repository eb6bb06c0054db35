"""What a judge that reads only English is given: the text, or its English translation.

Judges say which languages they read (`languages` on the class: None for any; the prompt
judges and the keyword `refusal` judge read English only). Before such a judge scores an
item, each of its texts (prompt, response, behaviour, context, earlier turns) that the
detector confidently places in a language the judge does not read is translated into English
by the translator role: greedy, with a seed that depends on the text alone, so the response
cache answers a text seen before and a run gives the same translation every time (an
in-process memo spares even the cache look-up). The Score says so: `translated_from` is the
language the judged text came from. A back-translation that fails is a judge error with the
raw answers kept: an English-only judge never scores a text it cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sagert.core.ids import stable_id
from sagert.core.languages import ENGLISH
from sagert.core.seeds import record_seed
from sagert.judges.base import Judge, JudgeContext, JudgeInput, Score, error_score, judge_languages
from sagert.translation.detect import LanguageDetector
from sagert.translation.translate import TranslationError, Translator

PURPOSE = "back-translate"


@dataclass
class EnglishReader:
    """Back-translations into English, memoised by text for the life of one stage."""

    detector: LanguageDetector = field(default_factory=LanguageDetector)
    memo: dict[str, str] = field(default_factory=dict)

    def needs_translation(self, judge: Judge, text: str | None) -> str | None:
        """The language `text` is in, when `judge` cannot read it; else None."""
        if not text:
            return None
        readable = judge_languages(judge)
        if readable is None:
            return None
        detection = self.detector.detect(text)
        if not detection.confident or detection.language in readable:
            return None
        return detection.language

    async def english(self, text: str, translator: Translator, run_seed: int) -> str:
        if text not in self.memo:
            seed = record_seed(run_seed, stable_id(text), PURPOSE)
            done = await translator.translate(text, ENGLISH, seed=seed, kind="text")
            self.memo[text] = done.text
        return self.memo[text]

    async def score(
        self,
        judge: Judge,
        item: JudgeInput,
        ctx: JudgeContext,
        translator: Translator,
        run_seed: int,
    ) -> Score:
        """`judge`'s score of `item`, read in English where the judge needs it."""
        try:
            readable, source = await self.readable(judge, item, translator, run_seed)
        except TranslationError as exc:
            return error_score(
                judge.name,
                f"back-translation into English failed: {exc.reason}",
                "\n\n---\n\n".join(exc.raw) or None,
            )
        score = await judge.score(readable, ctx)
        if source is None:
            return score
        return score.model_copy(update={"translated_from": source})

    async def readable(
        self, judge: Judge, item: JudgeInput, translator: Translator, run_seed: int
    ) -> tuple[JudgeInput, str | None]:
        """The item with every text the judge cannot read in English, and the language the
        first such text was in (None: nothing needed translating)."""
        source: str | None = None

        async def read(text: str | None) -> str | None:
            nonlocal source
            language = self.needs_translation(judge, text)
            if language is None or text is None:
                return text
            source = source or language
            return await self.english(text, translator, run_seed)

        prompt = await read(item.prompt)
        response = await read(item.response)
        behavior = await read(item.behavior)
        context = await read(item.context)
        turns = None
        if item.turns is not None:
            turns = [{**t, "content": await read(t.get("content")) or ""} for t in item.turns]
        if source is None:
            return item, None
        changed = replace(
            item,
            prompt=prompt or "",
            response=response,
            behavior=behavior,
            context=context,
            turns=turns,
        )
        return changed, source


def reads_only_some(judge: Judge) -> bool:
    """Whether the judge needs some texts in English (it does not read every language)."""
    return judge_languages(judge) is not None


async def score_readable(
    judge: Judge,
    item: JudgeInput,
    ctx: JudgeContext,
    reader: EnglishReader | None,
    translator: Translator | None,
    run_seed: int,
) -> Score:
    """The judge's score, through `reader` when there is one (back-translation on)."""
    if reader is None or translator is None or not reads_only_some(judge):
        return await judge.score(item, ctx)
    return await reader.score(judge, item, ctx, translator, run_seed)
