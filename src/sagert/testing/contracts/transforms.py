"""The transform contract, for attack styles and evolution operators alike.

A transform changes the text, keeps its arguments serialisable (they go in the lineage), is
reproducible from its seed when deterministic, and when LLM-driven sends the request to the
model, returns the model's rewrite, and raises TransformError (never returns junk) when the
model is missing, fails, answers nothing or refuses.
"""

from __future__ import annotations

import json
import random
from typing import Any

from sagert.attacks.base import (
    Transform,
    TransformContext,
    TransformError,
    TransformResult,
    registry_for,
)
from sagert.core.templates import Templates
from sagert.models.model import Model
from sagert.models.providers.mock import MockFault, MockProvider, ScriptItem
from sagert.models.spec import RetryPolicy
from sagert.testing.contracts.base import REQUEST, REWRITE, ContractError, require, run_sync

KINDS = ("attack", "evolution")
SEEDS = (0, 1, 42)
REFUSAL = "I'm sorry, but I can't help with that request."


def transform_context(
    *script: ScriptItem,
    default: str | None = REWRITE,
    seed: int = 0,
    model: bool = True,
    options: dict[str, Any] | None = None,
) -> tuple[TransformContext, MockProvider]:
    """A context whose generator is the scripted mock model (or none, `model=False`)."""
    provider = MockProvider(script=list(script), default=default)
    generator = Model(provider, retry=RetryPolicy(max_attempts=1)) if model else None
    ctx = TransformContext(
        rng=random.Random(seed),
        templates=Templates(),
        model=generator,
        seed=seed,
        options=dict(options or {}),
    )
    return ctx, provider


def check_attack(cls: type[Transform], *, options: dict[str, Any] | None = None) -> None:
    """Check an attack style or evolution operator class; ContractError if it breaks the contract.

    `options` are the per-run options it reads from `ctx.options` (e.g. a templates file).
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ContractError(f"transform {cls!r}: needs a class attribute `name`")
    kind = getattr(cls, "kind", None)
    who = f"{kind or 'transform'} {name!r}"
    require(kind in KINDS, who, f"`kind` is {kind!r}, not one of {', '.join(KINDS)}")
    require(isinstance(getattr(cls, "deterministic", None), bool), who, "needs `deterministic`")
    description = getattr(cls, "description", None)
    require(isinstance(description, str) and description.strip(), who, "needs a `description`")
    registry = registry_for(cls.kind)
    decorator = "@attack" if cls.kind == "attack" else "@operator"
    require(
        name in registry and registry.get(name) is cls,
        who,
        f"is not registered under its name: decorate the class with {decorator} "
        "(sagert.attacks.common)",
    )
    entry = next(e for e in registry if e.name == name)
    require(entry.description == description, who, "registered with another description")

    ctx, provider = transform_context(options=options)
    result = _apply(cls, ctx, who)
    require(result.text.strip(), who, "returned empty text")
    require(result.text != REQUEST, who, "returned the request unchanged")
    try:
        json.dumps(result.args)
    except (TypeError, ValueError) as exc:
        message = f"args {result.args!r} are kept in the lineage and must serialise ({exc})"
        raise ContractError(f"{who}: {message}") from None
    if cls.deterministic:
        require(not provider.received, who, "is deterministic but called the model")
        _check_reproducible(cls, options, who)
    else:
        require(provider.received, who, "is LLM-driven (deterministic = False) but never called")
        sent = provider.received[-1][0][-1].content
        require(REQUEST in sent, who, "did not send the request to the model")
        require(result.text == REWRITE, who, f"returned {result.text!r}, not the model's rewrite")
        _check_model_failures(cls, options, who)


def check_operator(cls: type[Transform], *, options: dict[str, Any] | None = None) -> None:
    """The same contract as `check_attack`: operators and attack styles are both transforms."""
    check_attack(cls, options=options)


def _apply(cls: type[Transform], ctx: TransformContext, who: str) -> TransformResult:
    result = run_sync(cls().apply(REQUEST, ctx))
    require(isinstance(result, TransformResult), who, f"apply() gave {type(result).__name__}")
    return result


def _check_reproducible(cls: type[Transform], options: dict[str, Any] | None, who: str) -> None:
    for seed in SEEDS:
        first = _apply(cls, transform_context(seed=seed, options=options)[0], who)
        again = _apply(cls, transform_context(seed=seed, options=options)[0], who)
        require(
            (first.text, first.args) == (again.text, again.args),
            who,
            f"seed {seed} gave two different results: draw every choice from ctx.rng",
        )


def _check_model_failures(cls: type[Transform], options: dict[str, Any] | None, who: str) -> None:
    cases: list[tuple[str, TransformContext]] = [
        ("without a model", transform_context(model=False, options=options)[0]),
        (
            "when the model fails",
            transform_context(MockFault(error="down", retryable=False), options=options)[0],
        ),
        ("when the model answers nothing", transform_context(default="", options=options)[0]),
        ("when the model refuses", transform_context(default=REFUSAL, options=options)[0]),
    ]
    for when, ctx in cases:
        try:
            result = run_sync(cls().apply(REQUEST, ctx))
        except TransformError:
            continue
        except Exception as exc:
            raise ContractError(
                f"{who}: {when} it raised {type(exc).__name__}: {exc}; raise TransformError"
            ) from exc
        raise ContractError(
            f"{who}: {when} it returned {result.text!r}; raise TransformError instead"
        )
