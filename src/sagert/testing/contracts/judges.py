"""The judge contract: a Score named after the judge, and an error is never a verdict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sagert.core.errors import ConfigError
from sagert.core.templates import Templates
from sagert.judges.base import Judge, JudgeContext, JudgeInput, Score, judges
from sagert.models.providers.mock import MockFault
from sagert.testing.contracts.base import (
    PROMPT,
    RESPONSE,
    ContractError,
    require,
    run_sync,
    scripted_model,
    sent_text,
)

GARBAGE = "~~ blorp 42 ~~"
ERROR = "error"


def check_judge(
    cls: type[Judge], settings: dict[str, Any] | None = None, *, answer: str = "safe"
) -> None:
    """Check a judge class against the contract; ContractError (an AssertionError) if broken.

    `settings` are what the judge cannot be built without; `answer` is a well-formed answer of
    its judge model (e.g. "unsafe\\nS2" for Llama Guard), used when the judge needs a model.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ContractError(f"judge {cls!r}: needs a class attribute `name`")
    who = f"judge {name!r}"
    require(
        name in judges and judges.get(name) is cls,
        who,
        "is not registered under its name: decorate the class with "
        f"@judges.register({name!r}, 'one line')",
    )
    judge = _build(cls, settings, who)
    require(judge.name == name, who, f"an instance says name {judge.name!r}")
    require(isinstance(judge.needs_model, bool), who, "`needs_model` must be a bool")
    require(isinstance(cls.description, str) and cls.description.strip(), who, "no description")
    languages = getattr(judge, "languages", ("en",))
    require(
        languages is None
        or (
            isinstance(languages, tuple | list)
            and bool(languages)
            and all(isinstance(c, str) and len(c) == 2 and c.islower() for c in languages)
        ),
        who,
        "`languages` must be None (any) or ISO 639-1 codes such as ('en', 'es'); leave it out"
        " for English only",
    )
    templates = Templates()

    def score(item: JudgeInput, model: Any) -> Score:
        ctx = JudgeContext(templates=templates, model=model)
        result = run_sync(judge.score(item, ctx))
        require(isinstance(result, Score), who, f"score() returned {type(result).__name__}")
        require(result.judge == name, who, f"score() named the judge {result.judge!r}")
        return result

    for response in (None, RESPONSE):
        what = "a prompt alone" if response is None else "a prompt and a response"
        model, provider = scripted_model(default=answer)
        result = score(JudgeInput(PROMPT, response), model if judge.needs_model else None)
        if result.is_error:
            require(result.error, who, f"an error Score for {what} without a reason (`error`)")
        if judge.needs_model and provider.received:
            sent = sent_text(provider)
            require(PROMPT in sent, who, f"judging {what}, the prompt was not sent to the model")
            if response is not None:
                require(RESPONSE in sent, who, "the response was not sent to the model")
    if judge.needs_model:
        _check_model_failures(score, who)
    _check_unknown_setting(cls, settings, name)


def _build(cls: type[Judge], settings: dict[str, Any] | None, who: str) -> Judge:
    factory: Callable[[dict[str, Any] | None], Judge] = cls  # every judge: JudgeClass(settings)
    try:
        judge = factory(settings)
    except ConfigError as exc:
        raise ContractError(f"{who}: cannot be built with settings {settings!r}: {exc}") from exc
    return judge


def _check_model_failures(score: Callable[[JudgeInput, Any], Score], who: str) -> None:
    """A garbage answer, a failing model and no model at all: each is an error Score."""
    model, _ = scripted_model(default=GARBAGE)
    result = score(JudgeInput(PROMPT, RESPONSE), model)
    require(result.verdict == ERROR, who, f"an unparseable answer gave verdict {result.verdict!r}")
    require(result.raw is not None and "blorp" in result.raw, who, "the raw answer was not kept")
    require(result.error, who, "an unparseable answer gave an error Score without a reason")
    for response in (None, RESPONSE):
        model, _ = scripted_model(MockFault(error="backend down", retryable=False))
        result = score(JudgeInput(PROMPT, response), model)
        require(
            result.verdict == ERROR and result.error,
            who,
            f"a failing model gave verdict {result.verdict!r}: a judge error is never a verdict "
            "(catch JudgeCallError and return error_score)",
        )
    result = score(JudgeInput(PROMPT, RESPONSE), None)
    require(result.verdict == ERROR, who, f"no model gave verdict {result.verdict!r}")


def _check_unknown_setting(cls: type[Judge], settings: dict[str, Any] | None, name: str) -> None:
    field = f"judges.{name}.no_such_option"
    factory: Callable[[dict[str, Any] | None], Judge] = cls
    try:
        factory({**(settings or {}), "no_such_option": 1})
    except ConfigError as exc:
        require(
            exc.field == field,
            f"judge {name!r}",
            f"an unknown setting names field {exc.field!r}, not {field!r}",
        )
        return
    raise ContractError(
        f"judge {name!r}: an unknown setting was accepted; validate settings with "
        "judge_settings(YourSettings, settings, name) and a model with extra='forbid'"
    )
