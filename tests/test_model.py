"""The Model wrapper: retries, Retry-After, concurrency limit, cache and counters."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sagert.models.cache import ResponseCache
from sagert.models.model import Model, ModelCallError, backoff_seconds
from sagert.models.provider import ProviderError
from sagert.models.providers.mock import MockFault, MockProvider
from sagert.models.spec import RetryPolicy
from sagert.models.types import GenerateConfig, Message

FAST = RetryPolicy(max_attempts=4, initial_wait=0.0, max_wait=0.0, jitter=0.0)
HI = [Message(role="user", content="hi")]


def run(coro):
    return asyncio.run(coro)


def test_retries_then_succeeds_and_counts():
    provider = MockProvider(script=[MockFault(error="boom"), MockFault(error="boom"), "fine"])
    model = Model(provider, retry=FAST)
    out = run(model.generate(HI))
    assert out.text == "fine"
    assert (model.stats.calls, model.stats.retries, model.stats.failures) == (3, 2, 0)


def test_gives_up_after_retry_limit_keeping_raw():
    provider = MockProvider(script=[MockFault(error="bad gateway")] * 10)
    model = Model(provider, retry=FAST)
    with pytest.raises(ModelCallError) as info:
        run(model.generate(HI))
    assert info.value.attempts == 4
    assert info.value.raw == "bad gateway"
    assert (model.stats.calls, model.stats.failures) == (4, 1)


def test_non_retryable_error_is_not_retried():
    provider = MockProvider(script=[MockFault(error="bad request", retryable=False), "never"])
    model = Model(provider, retry=FAST)
    with pytest.raises(ModelCallError):
        run(model.generate(HI))
    assert model.stats.calls == 1 and model.stats.retries == 0


def test_retry_after_is_honoured():
    provider = MockProvider(script=[MockFault(error="429", retry_after=0.3), "ok"])
    model = Model(provider, retry=FAST)
    started = time.perf_counter()
    run(model.generate(HI))
    assert time.perf_counter() - started >= 0.3


def test_retry_after_is_capped():
    provider = MockProvider(script=[MockFault(error="429", retry_after=3600), "ok"])
    policy = FAST.model_copy(update={"max_retry_after": 0.05})
    started = time.perf_counter()
    run(Model(provider, retry=policy).generate(HI))
    assert time.perf_counter() - started < 5


def test_backoff_doubles_up_to_max_wait_with_bounded_jitter():
    policy = RetryPolicy(initial_wait=0.5, max_wait=3.0, jitter=0.0, max_retry_after=10.0)
    plain = RuntimeError("boom")
    assert [backoff_seconds(policy, n, plain) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 3, 3]
    jittered = policy.model_copy(update={"jitter": 0.25})
    waits = [backoff_seconds(jittered, 1, plain) for _ in range(200)]
    assert all(0.5 <= w <= 0.75 for w in waits) and len(set(waits)) > 1


def test_backoff_takes_the_longer_retry_after_up_to_its_cap():
    policy = RetryPolicy(initial_wait=1.0, max_wait=60.0, jitter=0.0, max_retry_after=5.0)

    def after(seconds: float) -> ProviderError:
        return ProviderError("429", retryable=True, retry_after=seconds)

    assert backoff_seconds(policy, 1, after(2.5)) == 2.5  # longer than our own 1 s
    assert backoff_seconds(policy, 3, after(2.5)) == 4.0  # ours (1 * 2**2) is longer
    assert backoff_seconds(policy, 1, after(3600)) == 5.0  # capped at max_retry_after


def test_limiter_slot_is_free_during_backoff():
    provider = MockProvider(script=[MockFault(error="429", retry_after=0.5)], default="ok")
    model = Model(provider, max_connections=1, retry=FAST)

    async def go():
        first = asyncio.create_task(model.generate(HI))
        await asyncio.sleep(0.1)  # the first call has failed and is backing off
        backing_off = (model.stats.retries, model.limiter.in_use)
        other = await asyncio.wait_for(model.generate(HI), timeout=0.3)  # not blocked by it
        return backing_off, other, await first

    backing_off, other, first = run(go())
    assert backing_off == (1, 0) and other.text == first.text == "ok"


def test_timeout_is_retried():
    calls = {"n": 0}

    class Slow(MockProvider):
        async def generate(self, messages, config):
            calls["n"] += 1
            if calls["n"] == 1:
                await asyncio.sleep(10)
            return await super().generate(messages, config)

    model = Model(Slow(default="late but fine"), retry=FAST, timeout=0.2)
    assert run(model.generate(HI)).text == "late but fine"
    assert model.stats.retries == 1


def test_concurrency_limit():
    active = {"now": 0, "max": 0}

    class Counting(MockProvider):
        async def generate(self, messages, config):
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
            await asyncio.sleep(0.01)
            active["now"] -= 1
            return await super().generate(messages, config)

    model = Model(Counting(default="x"), max_connections=3, retry=FAST)

    async def many():
        await asyncio.gather(*(model.generate(HI) for _ in range(20)))

    run(many())
    assert active["max"] == 3


def test_cache_hit_costs_no_call(tmp_path: Path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    provider = MockProvider(default="answer")
    model = Model(provider, retry=FAST, cache=cache)
    first = run(model.generate(HI, GenerateConfig(seed=1)))
    second = run(model.generate(HI, GenerateConfig(seed=1)))
    third = run(model.generate(HI, GenerateConfig(seed=2)))  # different settings: a new call
    assert not first.cached and second.cached and not third.cached
    assert second.text == first.text
    assert model.stats.calls == 2 and model.stats.cache_hits == 1
    cache.close()
    # The cache survives the process: a new Model over the same file answers from it.
    again = Model(
        MockProvider(default="answer"), retry=FAST, cache=ResponseCache(tmp_path / "cache.sqlite")
    )
    assert run(again.generate(HI, GenerateConfig(seed=1))).cached
    assert again.stats.calls == 0


def test_failures_are_not_cached(tmp_path: Path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    model = Model(
        MockProvider(script=[MockFault(error="x", retryable=False)], default="ok"),
        retry=FAST,
        cache=cache,
    )
    with pytest.raises(ModelCallError):
        run(model.generate(HI))
    assert len(cache) == 0
    assert run(model.generate(HI)).text == "ok"


def test_generate_config_merge():
    base = GenerateConfig(temperature=0.5, max_tokens=10)
    merged = base.merged(GenerateConfig(seed=3, max_tokens=20))
    assert (merged.temperature, merged.max_tokens, merged.seed) == (0.5, 20, 3)
