"""The Judge contract. A judge error is its own outcome: never safe, never unsafe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import UserError
from sagert.core.registry import Registry
from sagert.core.templates import Templates
from sagert.core.validation import validate
from sagert.models.model import ModelCallError
from sagert.models.provider import ProviderError
from sagert.models.types import GenerateConfig, Generator, Message, ModelOutput

S = TypeVar("S", bound=BaseModel)

Verdict = Literal["safe", "unsafe", "refused", "complied", "error"]
"""safe/unsafe: a safety classifier's answer; refused/complied: a refusal detector's;
error: the judge could not answer or its answer could not be parsed."""

JudgeKind = Literal["harm", "refusal"]
"""harm: the judge says whether a text is harmful (safe/unsafe); refusal: only whether a
response declined (refused/complied), which is no evidence that a compliance is harmful."""


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judge: str
    verdict: Verdict
    categories: list[str] = Field(default_factory=list)
    """Violated categories as the judge names them (e.g. Llama Guard's S2, S14)."""
    explanation: str | None = None
    raw: str | None = None
    """The judge model's raw answer, kept always (and essential when verdict is error)."""
    error: str | None = None
    score: float | None = None
    """A graded judge's number behind the verdict (StrongREJECT's 0-1 score)."""
    details: dict[str, int] | None = None
    """The sub-scores behind `score`, as the judge names them (refused, convincing, ...)."""
    members: list[Score] | None = None
    """A panel's member scores, errors included, in the order of its members."""
    translated_from: str | None = None
    """The language (ISO 639-1) of the text this judge was given, when it read an English
    translation of it (it reads only English; see translation/english.py); None: as given."""

    @property
    def is_error(self) -> bool:
        return self.verdict == "error"


@dataclass
class JudgeInput:
    """What is judged: the prompt alone (prompt classification) or prompt + response."""

    prompt: str
    response: str | None = None
    behavior: str | None = None
    """The intended harmful behaviour (HarmBench's [BEHAVIOR]); defaults to the prompt."""
    context: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    turns: list[dict[str, str]] | None = None
    """The earlier turns of a conversation ({role, content}), before `prompt` and `response`:
    judges that read conversations (Llama Guard 3) get the whole one."""


@dataclass
class JudgeContext:
    templates: Templates
    model: Generator | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Judge(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]

    @property
    def needs_model(self) -> bool:
        """Whether `score` asks the judge model; a class constant except for a panel."""
        ...

    async def score(self, item: JudgeInput, ctx: JudgeContext) -> Score: ...


judges: Registry[type[Judge]] = Registry("judge")


def judge_kind(judge: object) -> JudgeKind:
    """A judge's `kind`; a plugin judge that does not say is taken as a refusal detector, so
    nothing is ever claimed to be validated by harm on a judge's silence."""
    kind = getattr(judge, "kind", None)
    return "harm" if kind == "harm" else "refusal"


ENGLISH_ONLY: tuple[str, ...] = ("en",)


def judge_languages(judge: object) -> tuple[str, ...] | None:
    """The languages a judge reads (`languages` on the class; None: any). A judge that does
    not say reads English only: what it is given in another language is translated first."""
    languages = getattr(judge, "languages", ENGLISH_ONLY)
    return None if languages is None else tuple(languages)


def classifies_prompts(judge: object) -> bool:
    """Whether the judge answers for a prompt alone (no response): what a prompt gate needs."""
    return bool(getattr(judge, "classifies_prompts", False))


def judges_responses(judge: object) -> bool:
    """Whether the judge answers for a response; False: a prompt classifier only
    (harm_semantic), whose input is the prompt alone. A judge that does not say does."""
    return bool(getattr(judge, "judges_responses", True))


@runtime_checkable
class Completer(Protocol):
    """A model with a raw completion endpoint (prompt text in, continuation out).

    Judges whose prompt is a model's own rendered template (Llama Guard, HarmBench's Llama-2
    classifier) need it: a chat endpoint would wrap that text in a second template.
    """

    async def complete(self, prompt: str, config: GenerateConfig | None = None) -> ModelOutput: ...


NO_MODEL = "this judge needs a model and none was given"
NO_COMPLETION = "the judge model has no completion endpoint"


class JudgeCallError(Exception):
    """The judge model could not answer; becomes an error Score, never a verdict."""

    def __init__(self, reason: str, raw: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


def error_score(judge: str, reason: str, raw: str | None = None) -> Score:
    """The one way a judge says it has no answer: its own outcome, raw answer kept."""
    return Score(judge=judge, verdict="error", error=reason, raw=raw)


def judge_settings(schema: type[S], settings: dict[str, Any] | None, judge: str) -> S:
    """Validate a judge's settings; problems name `judges.<judge>.<field>`."""
    return validate(schema, settings or {}, prefix=f"judges.{judge}")


def render_verbatim(templates: Templates, name: str, **values: Any) -> str:
    """A published prompt exactly as its template renders it, ends included.

    `Templates.render` strips both ends, but StrongREJECT's prompt begins and ends with a
    newline and XSTest's ends with two: a published prompt is sent as published.
    """
    try:
        return templates.env.get_template(name).render(**values)
    except jinja2.TemplateNotFound:
        raise UserError(
            f"prompt template {name!r} not found", fix="see `sagert list templates`"
        ) from None


def require_model(ctx: JudgeContext) -> Generator:
    if ctx.model is None:
        raise JudgeCallError(NO_MODEL)
    return ctx.model


async def ask_chat(ctx: JudgeContext, messages: list[Message], config: GenerateConfig) -> str:
    """The judge model's answer to chat messages; failures raise JudgeCallError."""
    model = require_model(ctx)
    try:
        return (await model.generate(messages, config)).text
    except (ModelCallError, ProviderError) as exc:
        raise JudgeCallError(f"judge model call failed: {exc}", getattr(exc, "raw", None)) from exc


async def ask_completion(ctx: JudgeContext, prompt: str, config: GenerateConfig) -> str:
    """The judge model's continuation of `prompt`; needs a Completer model."""
    model = require_model(ctx)
    if not isinstance(model, Completer):
        raise JudgeCallError(NO_COMPLETION)
    try:
        return (await model.complete(prompt, config)).text
    except (ModelCallError, ProviderError) as exc:
        raise JudgeCallError(f"judge model call failed: {exc}", getattr(exc, "raw", None)) from exc


P = TypeVar("P")


@dataclass(frozen=True)
class Parsed(Generic[P]):
    value: P
    raw: str


async def ask_parsed(
    judge: str,
    ctx: JudgeContext,
    prompt: str,
    max_tokens: int,
    parse: Callable[[str], P],
    what: str,
) -> Parsed[P] | Score:
    """Ask the judge model greedily with one user message and parse its answer.

    The one way model judges meet failure: a failed call or an answer `parse` rejects
    (ValueError) is an error Score with the raw answer kept, never a verdict.
    """
    config = GenerateConfig(max_tokens=max_tokens, temperature=0.0)
    try:
        raw = await ask_chat(ctx, [Message(role="user", content=prompt)], config)
    except JudgeCallError as exc:
        return error_score(judge, exc.reason, exc.raw)
    try:
        return Parsed(parse(raw), raw)
    except ValueError as exc:
        return error_score(judge, f"malformed {what} answer: {exc}", raw)
