"""One text into another language with a model: the template, the parse, the checks.

Every answer is checked before it is kept: it must hold a translation (the text between
<translation> tags, or the whole answer without a preamble or a code fence the text did not
have), not be cut off by the token limit, not be far shorter than the text (a refusal or a
summary in the target language), and be in the target language by the detector. A text with
too few letters to detect ("Ok.", code) is kept unchecked. A failed check is tried again with
another seed (so the response cache cannot replay it); after `attempts` tries a
TranslationError keeps every raw answer and says which check failed, so a language the model
cannot write is reported per language, not kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from sagert.core.languages import language_name
from sagert.core.templates import Templates
from sagert.models.model import ModelCallError
from sagert.models.provider import ProviderError
from sagert.models.types import GenerateConfig, Generator, Message
from sagert.translation.detect import LanguageDetector, letters

TEMPLATE = "translation/translate.j2"
RETRY_TEMPERATURE = 0.7
"""The first try is greedy; a retry samples, or it would give the same answer again."""
SHORT_SCRIPTS = frozenset({"zh", "ja", "ko"})
"""Scripts that take far fewer characters than a Latin one for the same text."""
MIN_CHECKED_CHARS = 80

Problem = Literal[
    "call_failed", "malformed", "truncated", "too_short", "too_long", "wrong_language"
]

_TAGGED = re.compile(r"<translation>\s*(.*?)\s*(?:</translation>|\Z)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"\A```[A-Za-z0-9_+-]*[ \t]*\n(.*?)\n?```\Z", re.DOTALL)
_PREAMBLE = re.compile(
    r"\A[^\n]{0,80}\b(?:translation|translated|traducci[oó]n|traduction|[ÜU]bersetzung|翻译)"
    r"[^\n]{0,40}:[ \t]*\n",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Translated:
    text: str
    language: str
    """The language asked for (and detected, when `checked`)."""
    detected: str | None
    """What the detector read in the answer; None: too few letters to tell."""
    attempts: int
    raw: list[str] = field(default_factory=list)


class TranslationError(Exception):
    """No usable translation after every try: which check failed, and every raw answer."""

    def __init__(self, problem: Problem, reason: str, raw: list[str], attempts: int) -> None:
        super().__init__(reason)
        self.problem = problem
        self.reason = reason
        self.raw = raw
        self.attempts = attempts


def parse_translation(answer: str, source: str) -> str:
    """The translation in a model's answer; ValueError when there is none."""
    text = answer.strip()
    tagged = _TAGGED.search(text)
    if tagged is not None:
        text = tagged.group(1).strip()
    else:
        text = _PREAMBLE.sub("", text, count=1).strip()
        fence = _FENCE.match(text)
        if fence is not None and not source.lstrip().startswith("```"):
            text = fence.group(1).strip()
    if not text:
        raise ValueError("empty translation")
    lowered, given = text.lower(), source.lower()
    for tag in ("<text>", "</text>", "<translation>", "</translation>"):
        if tag in lowered and tag not in given:
            # e.g. the instructions translated instead of the text (their last rule names
            # the tags), seen with Qwen2.5-1.5B
            raise ValueError(f"the answer holds the prompt's {tag} tag: not the text translated")
    return text


def check_translation(
    text: str, source: str, target: str, detector: LanguageDetector
) -> tuple[Problem, str] | tuple[None, str | None]:
    """(problem, reason) when `text` is no translation of `source` into `target`, else
    (None, the detected language or None when too short to tell)."""
    ratio = 0.15 if target in SHORT_SCRIPTS else 0.3
    if len(source) >= MIN_CHECKED_CHARS and len(text) < ratio * len(source):
        return "too_short", (
            f"translation too short ({len(text)} of {len(source)} characters): a refusal or a"
            " summary, not a translation"
        )
    most = (6 if _short_script(source) else 3) * len(source) + 100
    if len(text) > most:
        return "too_long", (
            f"translation too long ({len(text)} characters for {len(source)}): an answer to"
            " the text, or the instructions, not a translation"
        )
    detection = detector.detect(text)
    if detection.language is not None and detection.language != target:
        return "wrong_language", (
            f"asked for {target}, the answer is in {detection.language}"
            f" (p={detection.probability:.2f})"
        )
    return None, detection.language


def _short_script(text: str) -> bool:
    """Mostly CJK characters: the same text takes several times more in a Latin script."""
    cjk = sum("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in text)
    return cjk > len(text) / 4


def max_tokens_for(text: str, target: str) -> int:
    """Room for the translation: a generous estimate from the text's length."""
    per_char = 1.0 if target in SHORT_SCRIPTS or letters(text) < len(text) / 4 else 0.5
    return max(64, min(8192, int(len(text) * per_char) + 64))


@dataclass
class Translator:
    """Translates with `model` (the translator role), checked by `detector`."""

    model: Generator
    templates: Templates
    detector: LanguageDetector
    attempts: int = 2
    max_tokens: int | None = None

    async def translate(
        self, text: str, target: str, *, seed: int, kind: str = "text"
    ) -> Translated:
        prompt = self.templates.render(
            TEMPLATE, text=text, language=language_name(target), kind=kind
        )
        messages = [Message(role="user", content=prompt)]
        limit = self.max_tokens or max_tokens_for(text, target)
        raw: list[str] = []
        problem: Problem = "malformed"
        reason = "no attempt made"
        for attempt in range(self.attempts):
            config = GenerateConfig(
                max_tokens=limit,
                temperature=0.0 if attempt == 0 else RETRY_TEMPERATURE,
                seed=seed + attempt,
            )
            try:
                output = await self.model.generate(messages, config)
            except (ModelCallError, ProviderError) as exc:
                given = getattr(exc, "raw", None)
                raise TranslationError(
                    "call_failed",
                    f"translator call failed: {exc}",
                    [*raw, *([str(given)] if given else [])],
                    attempt + 1,
                ) from exc
            raw.append(output.text)
            if output.finish_reason == "length":
                problem, reason = "truncated", f"translation cut off at {limit} tokens"
                limit *= 2  # the next try gets room
                continue
            try:
                translated = parse_translation(output.text, text)
            except ValueError as exc:
                problem, reason = "malformed", f"malformed translation: {exc}"
                continue
            found, detail = check_translation(translated, text, target, self.detector)
            if found is None:
                return Translated(translated, target, detail, attempt + 1, raw)
            problem, reason = found, str(detail)
        raise TranslationError(
            problem, f"{reason} (after {self.attempts} attempts)", raw, self.attempts
        )
