"""AIMD concurrency: under sustained 429s a model backs off, then recovers."""

from __future__ import annotations

import asyncio

from sagert.models.limiter import AdaptiveLimiter
from sagert.models.model import Model
from sagert.models.providers.openai import OpenAIProvider
from sagert.models.spec import RetryPolicy
from sagert.models.types import GenerateConfig, Message
from sagert.testing.openai_server import OpenAITestServer


def test_limiter_halves_once_per_cooldown_and_grows_back():
    limiter = AdaptiveLimiter(8, cooldown=3600)
    limiter.on_rate_limited()
    limiter.on_rate_limited()  # same burst: counted once
    assert limiter.limit == 4 and limiter.decreases == 1
    for _ in range(4):
        limiter.on_success()
    assert limiter.limit == 5
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 8  # never above the configured maximum


def test_limiter_blocks_beyond_the_limit_and_hands_slots_on_in_order():
    async def go():
        limiter = AdaptiveLimiter(2)
        order: list[int] = []

        async def worker(i: int) -> None:
            async with limiter:
                order.append(i)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(worker(i) for i in range(6)))
        return order, limiter

    order, limiter = asyncio.run(go())
    assert order == list(range(6)) and limiter.in_use == 0


def test_sustained_429s_back_off_then_recover():
    async def go():
        script = ["429:0.01"] * 60
        async with OpenAITestServer(script=script, latency=0.005) as server:
            provider = OpenAIProvider("openai/t", "t", server.base_url)
            model = Model(
                provider,
                max_connections=16,
                retry=RetryPolicy(max_attempts=50, initial_wait=0.01, max_wait=0.05, jitter=0.0),
            )
            model.limiter.cooldown = 0.02
            try:
                outs = await asyncio.gather(
                    *(
                        model.generate([Message(role="user", content=f"q{i}")], GenerateConfig())
                        for i in range(400)
                    )
                )
            finally:
                await provider.aclose()
            return outs, model, server.stats

    outs, model, stats = asyncio.run(go())
    assert len(outs) == 400 and model.stats.failures == 0
    assert model.stats.rate_limited == stats.count("429") == 60
    assert model.limiter.decreases >= 2 and model.limiter.lowest <= 4  # backed off
    assert model.limiter.limit == 16  # and recovered
