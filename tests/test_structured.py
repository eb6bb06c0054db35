"""Structured output: tolerant parsing, retry on a bad parse, raw text kept on failure."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from sagert.models.model import Model
from sagert.models.providers.mock import MockFault, MockProvider
from sagert.models.spec import RetryPolicy
from sagert.models.structured import extract_json, generate_structured
from sagert.models.types import GenerateConfig, Message

FAST = RetryPolicy(max_attempts=2, initial_wait=0.0, max_wait=0.0, jitter=0.0)
ASK = [Message(role="user", content="give me queries")]


class Queries(BaseModel):
    queries: list[str]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! Here it is:\n```json\n{"a": [1, 2]}\n```\nAnything else?', {"a": [1, 2]}),
        ('prefix {"a": "brace } in string"} suffix', {"a": "brace } in string"}),
        ('{"a": [1, 2,],}', {"a": [1, 2]}),
        ("[1, 2, 3]", [1, 2, 3]),
        ('noise {not json} then {"ok": true}', {"ok": True}),
    ],
)
def test_extract_json(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize("text", ["", "I cannot help with that.", '{"a": ', "{'single': 1}"])
def test_extract_json_rejects(text):
    with pytest.raises(ValueError):
        extract_json(text)


def _run(script, attempts=3):
    provider = MockProvider(script=script)
    model = Model(provider, retry=FAST)
    result = asyncio.run(
        generate_structured(model, ASK, Queries, GenerateConfig(seed=7), attempts=attempts)
    )
    return result, provider


def test_parses_first_time_and_sends_schema():
    result, provider = _run(['{"queries": ["a", "b"]}'])
    assert result.ok and result.value.queries == ["a", "b"] and result.attempts == 1
    sent_config = provider.received[0][1]
    assert sent_config.json_schema["properties"]["queries"]["type"] == "array"


def test_retries_a_bad_parse_with_a_new_seed():
    result, provider = _run(["no json here", '{"queries": ["x"]}'])
    assert result.ok and result.attempts == 2
    seeds = [config.seed for _, config in provider.received]
    assert seeds == [7, 8]  # a different seed, so the cache cannot replay the bad answer
    assert result.raw == ["no json here", '{"queries": ["x"]}']


@pytest.mark.parametrize(
    ("outputs", "reason"),
    [
        (["", "", ""], "empty answer"),
        (["I can't help with that."] * 3, "not JSON"),
        (['{"items": ["a"]}'] * 3, "does not match the schema at queries"),
        (['{"queries": "not a list"}'] * 3, "does not match the schema at queries"),
    ],
)
def test_gives_up_with_reason_and_all_raw_text(outputs, reason):
    result, _ = _run(outputs)
    assert not result.ok and result.value is None
    assert reason in result.error
    assert result.raw == outputs and result.attempts == 3


def test_model_failure_is_reported_not_raised():
    result, _ = _run([MockFault(error="server down")] * 5)
    assert not result.ok
    assert "server down" in result.error and result.raw == ["server down"]
