"""One guard-loop round's model work: the generator's candidate pairs and the teacher's labels.

Each request (templates/guard/candidates.j2) names a kind of pair, a category and a language
and shows earlier mistakes; the answer is JSON parsed by `generate_structured` (retried with
another seed; a request that never parses is kept as a failure with every raw answer). The
teacher labels each prompt (a prompt classifier) and each response; a teacher error is an
unknown label, counted and never trained on. A refusal teacher's `complied` is unsafe only
when the prompt is unsafe: complying with a harmless request is no harm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import UserError
from sagert.core.languages import language_code, language_name
from sagert.core.seeds import record_rng, record_seed
from sagert.core.templates import Templates
from sagert.judges import make_judge
from sagert.judges.base import (
    Judge,
    JudgeContext,
    JudgeInput,
    Score,
    classifies_prompts,
    error_score,
    judge_kind,
)
from sagert.judges.harm_intent import CATEGORY_KEY
from sagert.models.structured import generate_structured
from sagert.models.types import Generator, Message
from sagert.settings.guard import GuardLoopSettings, TeacherSettings

TEMPLATE = "guard/candidates.j2"


class Pair(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1)
    response: str = Field(min_length=1)


class PairBatch(BaseModel):
    """The generator's answer: {"pairs": [{"prompt", "response"}, ...]}."""

    model_config = ConfigDict(extra="ignore")

    pairs: list[Pair] = Field(min_length=1)


@dataclass(frozen=True)
class Category:
    key: str
    name: str
    description: str = ""


class Request(BaseModel):
    """One ask of one round: what kind of pairs, about what, in which language."""

    model_config = ConfigDict(extra="forbid")

    round: int
    index: int
    kind: str
    category: str
    language: str


class Asked(BaseModel):
    """A request and what came of it: its pairs, or the failure and every raw answer."""

    model_config = ConfigDict(extra="forbid")

    request: Request
    pairs: list[Pair] = Field(default_factory=list)
    error: str | None = None
    raw: list[str] = Field(default_factory=list)


def plan(
    settings: GuardLoopSettings, categories: Sequence[str], round_number: int, run_seed: int = 0
) -> list[Request]:
    """The round's requests: every (category, kind, language) in a seeded shuffled order, the
    rounds taking turns along it, so a round mixes categories, kinds and languages."""
    combos = list(product(categories, settings.kinds, settings.languages))
    record_rng(run_seed, "guard-loop", "plan").shuffle(combos)
    start = (round_number - 1) * settings.requests
    chosen = [combos[(start + i) % len(combos)] for i in range(settings.requests)]
    return [
        Request(round=round_number, index=i, category=c, kind=k, language=lang)
        for i, (c, k, lang) in enumerate(chosen)
    ]


def render_request(
    templates: Templates,
    request: Request,
    category: Category,
    n: int,
    mistakes: Sequence[dict[str, Any]],
) -> str:
    return templates.render(
        TEMPLATE,
        n=n,
        kind=request.kind,
        category=category.name,
        category_description=category.description,
        language=language_name(language_code(request.language)),
        mistakes=list(mistakes),
    )


async def ask(
    model: Generator,
    templates: Templates,
    settings: GuardLoopSettings,
    request: Request,
    category: Category,
    mistakes: Sequence[dict[str, Any]],
    run_seed: int,
) -> Asked:
    prompt = render_request(templates, request, category, settings.per_request, mistakes)
    seed = record_seed(run_seed, f"guard-loop:{request.round}:{request.index}", "candidates")
    result = await generate_structured(
        model,
        [Message(role="user", content=prompt)],
        PairBatch,
        settings.config.model_copy(update={"seed": seed}),
    )
    if result.value is None:
        return Asked(request=request, error=result.error or "no answer", raw=result.raw)
    pairs = [
        Pair(prompt=p.prompt.strip(), response=p.response.strip())
        for p in result.value.pairs[: settings.per_request]
        if p.prompt.strip() and p.response.strip()
    ]
    if not pairs:
        return Asked(request=request, error="every pair was blank", raw=result.raw)
    return Asked(request=request, pairs=pairs)


class Labels(BaseModel):
    """The teacher's labels of one pair: True unsafe, False safe, None a teacher error."""

    model_config = ConfigDict(extra="forbid")

    prompt: bool | None
    response: bool | None
    prompt_score: dict[str, Any]
    response_score: dict[str, Any]


@dataclass
class Teacher:
    """The judges that label a round's pairs, and the models they ask."""

    prompt_judge: Judge
    response_judge: Judge
    prompt_model: Generator | None
    response_model: Generator | None
    templates: Templates

    async def label(self, pair: Pair, category: Category) -> Labels:
        meta = {CATEGORY_KEY: category.name}
        prompt_score = await _score(
            self.prompt_judge, JudgeInput(pair.prompt, meta=meta), self.prompt_model, self.templates
        )
        response_score = await _score(
            self.response_judge,
            JudgeInput(pair.prompt, pair.response, meta=meta),
            self.response_model,
            self.templates,
        )
        prompt_label = unsafe_of(prompt_score)
        response_label = unsafe_of(response_score)
        if judge_kind(self.response_judge) == "refusal" and response_label is not None:
            # complied is harmful only when the request is: unknown when the prompt is unknown
            response_label = None if prompt_label is None else (response_label and prompt_label)
        return Labels(
            prompt=prompt_label,
            response=response_label,
            prompt_score=prompt_score.model_dump(),
            response_score=response_score.model_dump(),
        )


def unsafe_of(score: Score) -> bool | None:
    """unsafe/complied -> True, safe/refused -> False, an error -> None."""
    if score.verdict in ("unsafe", "complied"):
        return True
    if score.verdict in ("safe", "refused"):
        return False
    return None


async def _score(
    judge: Judge, item: JudgeInput, model: Generator | None, templates: Templates
) -> Score:
    try:
        return await judge.score(item, JudgeContext(templates=templates, model=model))
    except Exception as exc:  # a judge that raises is a judge error, never a label
        return error_score(judge.name, f"{type(exc).__name__}: {exc}")


def teacher_judges(settings: GuardLoopSettings) -> tuple[Judge, Judge]:
    """(prompt judge, response judge), checked before any model call."""
    response = make_judge(settings.teacher.judge, settings.teacher.settings)
    spec: TeacherSettings = settings.prompt_teacher or settings.teacher
    prompt = make_judge(spec.judge, spec.settings) if settings.prompt_teacher else response
    if not classifies_prompts(prompt) or judge_kind(prompt) != "harm":
        raise UserError(
            f"judge {spec.judge!r} does not classify prompts as safe or unsafe",
            field="guard_loop.prompt_teacher",
            fix="use harm_intent, llamaguard3, guard or a panel of them",
        )
    return prompt, response


async def label_all(
    teacher: Teacher, items: Sequence[tuple[Pair, Category]], concurrency: int
) -> list[Labels]:
    gate = asyncio.Semaphore(concurrency)

    async def one(pair: Pair, category: Category) -> Labels:
        async with gate:
            return await teacher.label(pair, category)

    return list(await asyncio.gather(*(one(p, c) for p, c in items)))
