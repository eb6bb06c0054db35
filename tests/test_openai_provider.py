"""The `openai` provider against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import pytest

from sagert.core.errors import UserError
from sagert.models.model import Model, ModelCallError
from sagert.models.providers.openai import OpenAIProvider, make_openai, parse_retry_after
from sagert.models.spec import ModelSpec, RetryPolicy
from sagert.models.types import GenerateConfig, Message
from sagert.testing.openai_server import OpenAITestServer

FAST = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.05, jitter=0.0)
HI = [Message(role="user", content="hello there")]


async def _one(server: OpenAITestServer, *, limit_s: float = 5.0, retry: RetryPolicy = FAST):
    provider = OpenAIProvider("openai/test", "test", server.base_url, timeout=limit_s)
    model = Model(provider, retry=retry, timeout=limit_s)
    try:
        out = await model.generate(HI, GenerateConfig(max_tokens=8, seed=1))
        return out, model
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    ("fault", "counted"),
    [
        ("429:0.4", "429"),
        ("500", "500"),
        ("garbage", "garbage"),
        ("truncated", "truncated"),
        ("429-no-retry-after", "429-no-retry-after"),
    ],
)
def test_fault_is_retried_then_succeeds(fault: str, counted: str):
    async def go():
        async with OpenAITestServer(script=[fault]) as server:
            started = time.perf_counter()
            out, model = await _one(server)
            return out, model, server.stats, time.perf_counter() - started

    out, model, stats, elapsed = asyncio.run(go())
    assert out.text == "echo: hello there"
    assert out.usage.completion_tokens > 0
    assert (model.stats.calls, model.stats.retries, model.stats.failures) == (2, 1, 0)
    assert stats.requests == 2 and stats.count(counted) == 1 and stats.count("ok") == 1
    if fault == "429:0.4":
        assert elapsed >= 0.4  # Retry-After honoured, longer than our own backoff


def test_hang_past_timeout_is_retried():
    async def go():
        async with OpenAITestServer(script=["hang"], hang_seconds=30) as server:
            started = time.perf_counter()
            out, model = await _one(server, limit_s=0.5)
            return out, model, time.perf_counter() - started

    out, model, elapsed = asyncio.run(go())
    assert out.text == "echo: hello there"
    assert model.stats.retries == 1 and 0.5 <= elapsed < 10


def test_persistent_failure_is_recorded_after_retry_limit():
    async def go():
        async with OpenAITestServer(script=["500"] * 10) as server:
            with pytest.raises(ModelCallError) as info:
                await _one(server)
            return info.value, server.stats

    error, stats = asyncio.run(go())
    assert error.attempts == 4 and stats.requests == 4
    assert "HTTP 500" in str(error) and error.raw  # the server's body is kept


def test_connection_refused_is_retryable_then_fails():
    async def go():
        provider = OpenAIProvider("openai/x", "x", "http://127.0.0.1:9/v1", timeout=2)
        model = Model(provider, retry=FAST)
        try:
            with pytest.raises(ModelCallError) as info:
                await model.generate(HI)
        finally:
            await provider.aclose()
        return info.value, model

    error, model = asyncio.run(go())
    assert "connection error" in str(error) and model.stats.calls == 4


def test_request_body_carries_settings_and_schema():
    provider = OpenAIProvider("openai/m", "m", "http://127.0.0.1:1/v1")
    body = provider.request_body(
        HI,
        GenerateConfig(
            max_tokens=5,
            temperature=0.3,
            seed=9,
            stop=("\n",),
            prefill="Sorry,",
            json_schema={"type": "object"},
        ),
    )
    assert body["model"] == "m" and body["max_tokens"] == 5 and body["seed"] == 9
    assert body["stop"] == ["\n"] and body["messages"][-1] == {
        "role": "assistant",
        "content": "Sorry,",
    }
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SAGERT_TEST_KEY", raising=False)
    provider = make_openai(
        ModelSpec(model="openai/m", base_url="http://127.0.0.1:1/v1", api_key_env="SAGERT_TEST_KEY")
    )
    with pytest.raises(UserError) as info:
        provider._headers()
    assert "SAGERT_TEST_KEY" in info.value.one_line()
    monkeypatch.setenv("SAGERT_TEST_KEY", "sk-test-123")
    assert provider._headers()["Authorization"] == "Bearer sk-test-123"


def test_missing_base_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UserError) as info:
        make_openai(ModelSpec(model="openai/m"))
    assert info.value.field == "base_url"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2", 2.0), ("0.25", 0.25), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date():
    import email.utils

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after(when) or 0) <= 31


def test_completion_endpoint_with_retries_and_cache(tmp_path):
    from sagert.models.cache import ResponseCache

    async def go():
        async with OpenAITestServer(script=["500"]) as server:
            provider = OpenAIProvider("openai/test", "test", server.base_url)
            cache = ResponseCache(tmp_path / "c.sqlite")
            model = Model(provider, retry=FAST, cache=cache)
            try:
                out = await model.complete("Once upon a time", GenerateConfig(seed=1))
                again = await model.complete("Once upon a time", GenerateConfig(seed=1))
                chat = await model.generate(
                    [Message(role="user", content="Once upon a time")], GenerateConfig(seed=1)
                )
            finally:
                await provider.aclose()
            return out, again, chat, model, server.stats

    out, again, chat, model, stats = asyncio.run(go())
    assert out.text and again.cached and not chat.cached  # separate cache keys per endpoint
    assert model.stats.retries == 1 and stats.requests == 3
