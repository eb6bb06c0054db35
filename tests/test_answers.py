"""The n-samples answering helper (engine.answers) on the mock provider, and the seeds each
stage gives it: those must never change, or cached answers and resumed runs are lost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST_RETRY
from sagert.core.ids import stable_id
from sagert.core.templates import Templates
from sagert.engine.answers import answer_samples, sample_answers
from sagert.engine.context import ModelPool, RoleModel, RunContext
from sagert.models.model import Model, ModelCallError
from sagert.models.providers.mock import MockFault, MockProvider
from sagert.models.spec import ModelSpec, RetryPolicy
from sagert.models.types import GenerateConfig, Message
from sagert.settings.evaluate import EvaluateSettings
from sagert.settings.run import RunConfig
from sagert.settings.stages import RespondStage, ResponsesStage
from sagert.stages.evaluation import EvalRespond
from sagert.stages.pairs import Responses
from sagert.stages.respond import Respond
from sagert.store.records import Record
from sagert.store.run import RunStore

HELLO = [Message(role="user", content="hello")]
ROLE_CONFIG = GenerateConfig(temperature=0.5)
PREFILLED = GenerateConfig(temperature=0.5, prefill="role")
"""A role whose answers open with "role": a stage that sends prefill=None turns it off."""


def role_model(script: list[Any] | None = None, config: GenerateConfig = ROLE_CONFIG) -> RoleModel:
    spec = ModelSpec(model="mock/x", config=config)
    provider = MockProvider(script=script or [], default="answer")
    return RoleModel("target", spec, Model(provider, retry=RetryPolicy(**FAST_RETRY)))


def received(model: RoleModel) -> list[GenerateConfig]:
    provider = model.model.provider
    assert isinstance(provider, MockProvider)
    return [config for _, config in provider.received]


def test_n_samples_each_with_its_seed():
    model = role_model(["one", "two", "three"])
    answers = asyncio.run(
        answer_samples(model, HELLO, 3, lambda i: 100 + 7 * i, GenerateConfig(max_tokens=9))
    )
    assert [(a.text, a.sample, a.model) for a in answers] == [
        ("one", 0, "mock/x"),
        ("two", 1, "mock/x"),
        ("three", 2, "mock/x"),
    ]
    configs = received(model)
    assert [c.seed for c in configs] == [100, 107, 114]
    # The shared settings go with every sample; the role's own defaults stay for the rest.
    assert all(c.max_tokens == 9 and c.temperature == 0.5 for c in configs)


def test_a_field_set_to_none_overrides_the_role_default():
    """`GenerateConfig(prefill=None)` says no prefill, as the responses stage always has."""
    model = role_model(config=PREFILLED)
    asyncio.run(answer_samples(model, HELLO, 1, lambda i: 5))
    asyncio.run(answer_samples(model, HELLO, 1, lambda i: 5, GenerateConfig(prefill=None)))
    kept, dropped = received(model)
    assert kept.prefill == "role" and kept.seed == 5
    assert dropped.prefill is None and dropped.temperature == 0.5 and dropped.seed == 5


def test_a_failing_call_stops_answer_samples():
    model = role_model(["ok", MockFault(error="down", retryable=False), "never asked"])
    with pytest.raises(ModelCallError, match="down"):
        asyncio.run(answer_samples(model, HELLO, 3, lambda i: i))
    assert len(received(model)) == 2


def test_sample_answers_yields_failures_and_goes_on():
    model = role_model(["ok", MockFault(error="down", retryable=False), "three"])

    async def collect():
        return [s async for s in sample_answers(model, HELLO, 3, lambda i: 10 + i)]

    samples = asyncio.run(collect())
    assert [(s.index, s.seed) for s in samples] == [(0, 10), (1, 11), (2, 12)]
    assert samples[0].unwrap().text == "ok" and samples[2].unwrap().text == "three"
    assert samples[1].response is None and samples[1].error is not None
    assert samples[1].error.attempts == 1
    with pytest.raises(ModelCallError):
        samples[1].unwrap()


# -- the seeds each stage passes in, pinned ---------------------------------------------------

RUN_SEED = 7
RECORD = Record(id="r1", parent_id="p1", stage="attack", prompt="hi", meta={"target": "target"})


def seed_of(*parts: object) -> int:
    return int(stable_id(*parts)[:8], 16)


def stage_context(tmp_path: Path, args: dict[str, Any] | None = None) -> RunContext:
    spec = ModelSpec(model="mock/x", config=PREFILLED, args=args or {})
    specs = dict.fromkeys(
        ("target", "aligned", "unaligned", "judge", "generator", "translator"), spec
    )
    return RunContext(
        config=RunConfig(seed=RUN_SEED, runs_dir=tmp_path),
        store=RunStore(tmp_path / "run"),
        models=ModelPool(specs, None),
        templates=Templates(),
    )


def sent_seeds(ctx: RunContext) -> list[int | None]:
    return [c.seed for c in received(ctx.role("target"))]


def test_respond_seeds(tmp_path: Path):
    ctx = stage_context(tmp_path)
    (out,) = asyncio.run(Respond(RespondStage(n_samples=3)).process(RECORD, ctx))
    assert [a.sample for a in out.responses["target"]] == [0, 1, 2]
    assert sent_seeds(ctx) == [seed_of(RUN_SEED, "r1", i) for i in range(3)]


def test_responses_seeds_and_prefill(tmp_path: Path):
    ctx = stage_context(tmp_path)
    stage = Responses(ResponsesStage(n_samples=2, aligned_prefill="Sorry"))
    (out,) = asyncio.run(stage.process(RECORD, ctx))
    configs = received(ctx.role("target"))  # every role shares one mock backend
    expected = [
        seed_of(RUN_SEED, "r1", f"responses-{side}", i)
        for side in ("chosen", "rejected")
        for i in range(2)
    ]
    assert [c.seed for c in configs] == expected
    assert [c.prefill for c in configs] == ["Sorry", "Sorry", None, None]
    assert out.responses["chosen"][0].text.startswith("Sorry")


def test_evaluate_seeds_follow_the_attacked_prompt(tmp_path: Path):
    ctx = stage_context(tmp_path)
    out = asyncio.run(EvalRespond(EvaluateSettings(n_samples=3)).process(RECORD, ctx))
    assert [r.meta["sample"] for r in out] == [0, 1, 2]
    assert sent_seeds(ctx) == [seed_of(RUN_SEED, "p1", "evaluate", i) for i in range(3)]


def test_evaluate_keeps_going_after_a_target_error(tmp_path: Path):
    outputs = ["I'm sorry, I can't.", {"error": "down", "retryable": False}, "Sure, here."]
    ctx = stage_context(tmp_path, {"outputs": outputs})
    out = asyncio.run(EvalRespond(EvaluateSettings(n_samples=3)).process(RECORD, ctx))
    assert [r.status for r in out] == ["ok", "failed", "ok"]
    assert out[1].failure is not None and out[1].failure.reason.startswith("target error: ")
    assert out[1].meta["sample"] == 1 and out[1].failure.raw == ["down"]
    assert [out[0].scores["refusal"]["verdict"], out[2].scores["refusal"]["verdict"]] == [
        "refused",
        "complied",
    ]


def test_respond_fails_the_record_on_a_failed_sample(tmp_path: Path):
    ctx = stage_context(tmp_path, {"outputs": ["fine", {"error": "down", "retryable": False}]})
    (out,) = asyncio.run(Respond(RespondStage(n_samples=3)).process(RECORD, ctx))
    assert out.status == "failed" and out.failure is not None and "down" in out.failure.reason
    assert len(sent_seeds(ctx)) == 2
