"""The one "rewrite this prompt with an LLM" helper that every LLM-driven transform uses.

Render a template, ask the generator, clean the answer (preambles such as "Sure! Here's the
rewritten prompt:", code fences, surrounding quotes, trailing notes), then check it: an empty
answer, a refusal, an unchanged prompt or one that lost most of the request is retried with a
new seed (so a response cache cannot replay it); after `attempts` tries a TransformError keeps
every raw answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from sagert.attacks.base import TransformContext, TransformError, TransformKind, TransformResult
from sagert.core.refusals import normalize, refusal_marker
from sagert.models.model import ModelCallError
from sagert.models.types import GenerateConfig, Message

ATTEMPTS = 3

REFUSAL_WINDOW = 160

_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)```", re.DOTALL)
_NOUN = r"(?:prompt|request|version|rewrite|translation|query|question|text|instruction)s?"
_PREAMBLE = re.compile(
    r"^[\s*_#>]*"
    r"(?:(?:sure|certainly|of course|okay|ok|absolutely|alright|great|no problem)\b[!.,]?\s*)?"
    r"(?:here you go[\s*_]*[:!.]"
    rf"|(?:(?:here(?:['\u2019]s| is| are)|below is)[^\n:]{{0,60}}?{_NOUN}[^\n:]{{0,40}}"
    rf"|(?:the )?(?:rewritten|revised|new|evolved|translated|updated|final|improved)"
    rf"[^\n:]{{0,30}}?{_NOUN}[^\n:]{{0,20}}"
    rf"|{_NOUN})[\s*_]*:"
    r")[\s*_]*",
    re.IGNORECASE,
)
_COURTESY = re.compile(
    r"^\s*(?:sure|certainly|of course|okay|absolutely|alright)[!.,]?\s*\n", re.IGNORECASE
)
_TRAILER = re.compile(
    r"\n\s*\n\s*[(*_]*(?:note|explanation|this (?:rewritten|revised|version|prompt)|"
    r"i hope|let me know|feel free)\b.*\Z",
    re.IGNORECASE | re.DOTALL,
)
_TAGGED = re.compile(r"\A<([A-Za-z_]+)>\s*(.*?)\s*</\1>\Z", re.DOTALL)
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}


def clean_rewrite(text: str) -> str:
    """The rewritten prompt without the wrappers models put around it."""
    text = text.strip()
    fence = _FENCE.search(text)
    if fence and fence.group(1).strip():
        outside = len(text) - len(fence.group(0))
        if outside < 200:
            text = fence.group(1).strip()
    for _ in range(2):
        text = _COURTESY.sub("", text, count=1)
        stripped = _PREAMBLE.sub("", text, count=1).strip()
        if stripped:
            text = stripped
    text = _TRAILER.sub("", text).strip()
    tagged = _TAGGED.match(text)
    if tagged and tagged.group(2):
        text = tagged.group(2)
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and all(line.lstrip().startswith(">") for line in lines):
        text = re.sub(r"^\s*>[ \t]?", "", text, flags=re.MULTILINE).strip()
    return _strip_quotes(text)


def _strip_quotes(text: str) -> str:
    while len(text) >= 2 and text[0] in _QUOTES:
        opener, closer = text[0], _QUOTES[text[0]]
        if text[-1] != closer:
            break
        inner = text[1:-1]
        if opener in inner or closer in inner:
            break
        text = inner.strip()
    return text


def refusal_in(answer: str, request: str = "") -> str | None:
    """The refusal phrase near the start of `answer` that the request itself does not use."""
    return refusal_marker(answer, REFUSAL_WINDOW, ignore=request)


_ABOUT_THE_TASK = re.compile(
    r"\b(?:i(?:'ll| will)|let me) (?:rewrite|revise|rephrase)\b"
    r"|\b(?:red[- ]teaming|ai[- ]safety) dataset\b",
    re.IGNORECASE,
)


def problem_with(answer: str, request: str, min_ratio: float) -> str | None:
    """Why a cleaned answer is not a usable rewrite of `request`, or None if it is."""
    if not answer.strip():
        return "empty answer"
    if not any(c.isalpha() for c in answer):
        return "answer has no text"
    phrase = refusal_in(answer, request)
    if phrase:
        return f"the model refused ({phrase!r})"
    if _ABOUT_THE_TASK.search(answer) and not _ABOUT_THE_TASK.search(request):
        return "the model talked about the task instead of rewriting the prompt"
    if normalize(answer) == normalize(request):
        return "the model returned the prompt unchanged"
    if len(answer) < max(4, min_ratio * len(request.strip())):
        return f"answer too short to keep the request ({len(answer)} chars)"
    return None


@dataclass
class Rewrite:
    text: str
    attempts: int
    raw: list[str]
    refusals: int = 0
    """Attempts the model refused; each later attempt is asked with `reframed` set."""


async def llm_rewrite(
    text: str,
    ctx: TransformContext,
    *,
    name: str,
    template: str,
    min_ratio: float = 0.3,
    attempts: int = ATTEMPTS,
    **values: Any,
) -> Rewrite:
    """Rewrite `text` with the template; retries with seed ctx.seed + attempt. After a refusal
    the template is rendered with `reframed=True` (the shared frames then add a second framing);
    an answer cut at max_tokens is an answer to the request, not a rewrite of it."""
    model = ctx.require_model(name)
    raw: list[str] = []
    reason = "no attempt made"
    refusals = 0
    for attempt in range(attempts):
        prompt = ctx.templates.render(template, request=text, reframed=refusals > 0, **values)
        messages = [Message(role="user", content=prompt)]
        config = GenerateConfig(seed=ctx.seed + attempt)
        try:
            output = await model.generate(messages, config)
        except ModelCallError as exc:
            if exc.raw:
                raw.append(str(exc.raw))
            raise TransformError(
                f"{name}: model call failed: {exc}", raw=raw, attempts=attempt + 1
            ) from exc
        answer = str(getattr(output, "text", output) or "")
        raw.append(answer)
        cleaned = clean_rewrite(answer)
        problem = problem_with(cleaned, text, min_ratio)
        if problem is None and getattr(output, "finish_reason", None) == "length":
            problem = "the answer was cut at max_tokens (an answer, not a rewrite)"
        if problem is None:
            return Rewrite(cleaned, attempt + 1, raw, refusals)
        refusals += problem.startswith("the model refused")
        reason = problem
    raise TransformError(
        f"{name}: no usable rewrite after {attempts} attempts (last: {reason})",
        raw=raw,
        attempts=attempts,
    )


class LLMRewriteTransform:
    """An LLM-driven transform: a template, optional choices (`choose`), then `llm_rewrite`."""

    name: ClassVar[str]
    kind: ClassVar[TransformKind]
    deterministic: ClassVar[bool] = False
    description: ClassVar[str]
    template: ClassVar[str]
    min_ratio: ClassVar[float] = 0.3

    def choose(self, text: str, ctx: TransformContext) -> dict[str, Any]:
        """Choices made before the call (language...): template values, kept in the args."""
        return {}

    async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
        choices = self.choose(text, ctx)
        result = await llm_rewrite(
            text,
            ctx,
            name=self.name,
            template=self.template,
            min_ratio=self.min_ratio,
            **choices,
        )
        args = {**choices, "attempts": result.attempts}
        if result.refusals:
            args["refusals"] = result.refusals
        return TransformResult(result.text, args=args)


class LLMAttack(LLMRewriteTransform):
    kind: ClassVar[TransformKind] = "attack"


class LLMOperator(LLMRewriteTransform):
    kind: ClassVar[TransformKind] = "evolution"
    min_ratio: ClassVar[float] = 0.5
