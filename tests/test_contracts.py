"""Contract tests over every registered plugin: a new plugin is checked without a new test."""

from __future__ import annotations

import asyncio
import json

import pytest

from sagert.core.registry import Registry
from sagert.engine.stage import stages
from sagert.models.provider import ModelProvider, ProviderError, providers
from sagert.models.spec import ModelSpec
from sagert.settings.stages import (
    AttackStage,
    EvolveStage,
    ExpandStage,
    ExtractStage,
    JudgeStage,
    RawTextStage,
    RespondStage,
    ResponsesStage,
)

MINIMAL_SPECS = {
    "llamacpp": ModelSpec(model="llamacpp/smollm2"),
    "mock": ModelSpec(model="mock/x"),
    "openai": ModelSpec(model="openai/x", base_url="http://127.0.0.1:9/v1"),
    "transformers": ModelSpec(model="transformers/HuggingFaceTB/SmolLM2-135M-Instruct"),
}

STAGE_SETTINGS = {
    "respond": RespondStage(),
    "expand": ExpandStage(),
    "raw_text": RawTextStage(),
    "extract": ExtractStage(),
    "evolve": EvolveStage(),
    "attack": AttackStage(),
    "responses": ResponsesStage(),
    "judge": JudgeStage(),
    "judge_eval": JudgeStage(),
    "pairs": "refusal",
    "baseline": None,
}


def test_every_provider_has_a_minimal_spec():
    assert set(providers.names()) == set(MINIMAL_SPECS)


@pytest.mark.parametrize("name", providers.names())
def test_provider_contract(name: str):
    provider = providers.get(name)(MINIMAL_SPECS[name])
    assert isinstance(provider, ModelProvider)
    assert provider.name == MINIMAL_SPECS[name].model
    assert provider.default_max_connections >= 1
    json.dumps(provider.identity())  # part of the cache key: must serialise
    assert provider.is_retryable(ProviderError("x", retryable=True))
    assert not provider.is_retryable(ProviderError("x", retryable=False))
    # the in-process engine keeps working on a timed-out request: retrying adds load
    # In-process engines cannot cancel a call: a timed-out one is not sent again.
    assert provider.is_retryable(TimeoutError()) is (name not in {"llamacpp", "transformers"})
    assert provider.default_timeout > 0
    assert not provider.is_retryable(ValueError())
    asyncio.run(provider.aclose())


@pytest.mark.parametrize("name", stages.names())
def test_stage_contract(name: str):
    settings = STAGE_SETTINGS[name]
    stage = stages.get(name)() if settings is None else stages.get(name)(settings)
    assert stage.name == name
    assert stage.needs and stage.makes
    json.dumps(stage.spec())
    assert set(stage.roles()) <= {"generator", "aligned", "unaligned", "target", "judge"}


def test_registry_rejects_double_registration_and_unknown_names():
    reg: Registry[object] = Registry("thing")
    reg.add("a", object())
    with pytest.raises(ValueError):
        reg.add("a", object())
    with pytest.raises(Exception) as info:
        reg.get("b")
    assert "use one of: a" in str(info.value)


def test_every_stage_has_settings_here():
    assert set(stages.names()) == set(STAGE_SETTINGS)


def test_every_task_format():
    from sagert.generation.formats import formats

    names = formats.names()
    assert len(names) >= 20
    for entry in formats:
        assert entry.obj.name == entry.name and len(entry.obj.description) > 10
    assert {"question", "email", "code_request", "sql_query", "poem"} <= set(names)


def test_custom_formats_yaml(tmp_path):
    from sagert.core.errors import ConfigError
    from sagert.generation.formats import load_custom_formats, resolve_formats

    good = tmp_path / "f.yaml"
    good.write_text("formats:\n  - {name: tweet_thread, description: a thread of short posts}\n")
    custom = load_custom_formats(good)
    chosen = resolve_formats(["tweet_thread", "email"], custom)
    assert [f.name for f in chosen] == ["tweet_thread", "email"]
    assert len(resolve_formats(["all"], custom)) == len(resolve_formats(["all"], [])) + 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("formats:\n  - {name: x1, description: one}\n  - {name: x1, description: two}\n")
    with pytest.raises(ConfigError) as info:
        load_custom_formats(bad)
    assert "formats[1].name" in info.value.one_line()
