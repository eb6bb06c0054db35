"""The Model wrapper: retries, a concurrency limit, the cache and accounting around a provider."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from sagert.models.budget import Account
from sagert.models.cache import ResponseCache, cache_key
from sagert.models.limiter import AdaptiveLimiter
from sagert.models.provider import ModelProvider, ProviderError
from sagert.models.spec import RetryPolicy
from sagert.models.types import GenerateConfig, Message, ModelOutput

log = logging.getLogger(__name__)

_DEFAULT_CONFIG = GenerateConfig()  # frozen, so one shared instance serves every call


class ModelCallError(Exception):
    """A call that failed for good: after the retry limit, or on a non-retryable error."""

    def __init__(self, model: str, attempts: int, cause: BaseException) -> None:
        self.model = model
        self.attempts = attempts
        self.cause = cause
        self.raw = getattr(cause, "raw", None)
        reason = f"{type(cause).__name__}: {cause}".rstrip(": ")
        super().__init__(f"{model}: failed after {attempts} attempt(s): {reason}")


@dataclass
class ModelStats:
    """Counters a run summary reports; `calls` counts real provider calls (attempts)."""

    requests: int = 0
    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    call_seconds: float = 0.0
    rate_limited: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


_COUNTERS = frozenset(ModelStats.__dataclass_fields__)


class Model:
    """One backend as the pipeline sees it; providers stay tiny because this owns the rest."""

    def __init__(
        self,
        provider: ModelProvider,
        *,
        max_connections: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        cache: ResponseCache | None = None,
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self.max_connections = max_connections or provider.default_max_connections
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.cache = cache
        self.stats = ModelStats()
        self.limiter = AdaptiveLimiter(self.max_connections)
        self._remote_endpoints: dict[str, dict[str, float | int]] = {}

    async def generate(
        self,
        messages: list[Message],
        config: GenerateConfig | None = None,
        *,
        use_cache: bool = True,
        budget: Account | None = None,
    ) -> ModelOutput:
        """One chat answer; raises ModelCallError when the call fails for good, BudgetReached
        when `budget` refuses an attempt (cache hits cost nothing and are never refused)."""
        config = config or _DEFAULT_CONFIG
        identity = self.provider.identity()
        return await self._cached(
            identity,
            messages,
            config,
            use_cache,
            lambda: self.provider.generate(messages, config),
            budget,
        )

    async def complete(
        self,
        prompt: str,
        config: GenerateConfig | None = None,
        *,
        use_cache: bool = True,
        budget: Account | None = None,
    ) -> ModelOutput:
        """Raw text completion (no chat template), for judges trained on a fixed prompt format."""
        config = config or _DEFAULT_CONFIG
        complete = getattr(self.provider, "complete", None)
        if complete is None:
            raise ModelCallError(
                self.name, 0, ProviderError("no completion endpoint", retryable=False)
            )
        identity = {**self.provider.identity(), "endpoint": "completions"}
        messages = [Message(role="user", content=prompt)]
        return await self._cached(
            identity, messages, config, use_cache, lambda: complete(prompt, config), budget
        )

    async def _cached(
        self,
        identity: dict[str, Any],
        messages: list[Message],
        config: GenerateConfig,
        use_cache: bool,
        call: Callable[[], Awaitable[ModelOutput]],
        budget: Account | None = None,
    ) -> ModelOutput:
        self.stats.requests += 1
        key = None
        if self.cache is not None and use_cache:
            key = cache_key(identity, messages, config)
            hit = self.cache.get(key)
            if hit is not None:
                self.stats.cache_hits += 1
                return hit.model_copy(update={"cached": True})
        output = await self._call_with_retries(call, budget)
        if key is not None and self.cache is not None:
            self.cache.put(key, output)
        return output

    async def _call_with_retries(
        self, call: Callable[[], Awaitable[ModelOutput]], budget: Account | None = None
    ) -> ModelOutput:
        # Retry what the provider calls retryable, stop after max_attempts, re-raise the last
        # error: hand-rolled rather than a tenacity `AsyncRetrying` per call, because at
        # hundreds of calls a second building its retry objects was a tenth of the client's CPU
        # (benchmarks/throughput.py, docs/performance.md); a call that succeeds builds nothing.
        attempts = 0
        try:
            while True:
                attempts += 1
                try:
                    return await self._call_once(call, budget)
                except Exception as exc:
                    if not self.provider.is_retryable(exc) or attempts >= self.retry.max_attempts:
                        raise
                    # Outside `_call_once`: the limiter slot is free while we back off.
                    wait = backoff_seconds(self.retry, attempts, exc)
                    self.stats.retries += 1
                    log.debug("%s: retry %d in %.2fs after %r", self.name, attempts, wait, exc)
                    await asyncio.sleep(wait)
        except Exception as exc:
            self.stats.failures += 1
            raise ModelCallError(self.name, attempts, exc) from exc

    async def _call_once(
        self, call: Callable[[], Awaitable[ModelOutput]], budget: Account | None = None
    ) -> ModelOutput:
        if budget is not None:
            budget.admit()  # BudgetReached is no Exception: it goes past the retry loop
        async with self.limiter:
            self.stats.calls += 1
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout):
                    output = await call()
            except TimeoutError as exc:
                raise TimeoutError(f"no answer within {self.timeout:g} s") from exc
            except ProviderError as exc:
                if exc.status == 429:
                    self.limiter.on_rate_limited()
                    self.stats.rate_limited += 1
                raise
            finally:
                self.stats.call_seconds += time.perf_counter() - started
            self.limiter.on_success()
        self.stats.prompt_tokens += output.usage.prompt_tokens
        self.stats.completion_tokens += output.usage.completion_tokens
        if budget is not None:
            budget.charge(output.usage)
        return output

    def endpoint_stats(self) -> dict[str, dict[str, float | int]]:
        """Per-endpoint counters of a fleet (a RoutedProvider); empty for one server."""
        report = getattr(self.provider, "endpoint_stats", None)
        local: dict[str, dict[str, float | int]] = dict(report()) if callable(report) else {}
        for url, remote in self._remote_endpoints.items():
            mine = local.setdefault(url, {})
            local[url] = {k: mine.get(k, 0) + v for k, v in remote.items()}
        return local

    def absorb(self, delta: dict[str, Any]) -> None:
        """Add counters of calls made elsewhere with this model (a Ray worker's share), so
        the run's summary counts every call wherever it was made."""
        for key, value in delta.items():
            if key in _COUNTERS and isinstance(value, int | float):
                setattr(self.stats, key, getattr(self.stats, key) + value)
        for url, stats in (delta.get("endpoints") or {}).items():
            mine = self._remote_endpoints.setdefault(url, {})
            for key, value in stats.items():
                if isinstance(value, int | float):
                    mine[key] = mine.get(key, 0) + value

    async def aclose(self) -> None:
        await self.provider.aclose()


def backoff_seconds(policy: RetryPolicy, attempt: int, exc: BaseException) -> float:
    """The wait after failed attempt `attempt` (1-based): `initial_wait * 2**(attempt-1)` plus
    up to `jitter` seconds, at most `max_wait` (tenacity's `wait_exponential_jitter` formula, in
    three lines so the retry loop needs no tenacity state); a server's Retry-After wins when
    longer, up to `max_retry_after`."""
    exponential = policy.initial_wait * 2.0 ** (attempt - 1)
    wait = min(exponential + random.uniform(0, policy.jitter), policy.max_wait)
    if isinstance(exc, ProviderError) and exc.retry_after is not None:
        return min(max(exc.retry_after, wait), policy.max_retry_after)
    return wait
