"""A fleet behind one role: one provider per endpoint, a router choosing among them.

Routing lives here, in a provider wrapping providers, rather than in `Model` or inside the
openai provider: `Model` keeps one job per call (retries with backoff, the role's limit, the
cache, counters) and sees one provider whatever the fleet; each endpoint keeps the plain
provider it would have alone (its own connection pool); and any provider that can be built
per endpoint can be routed. What the router adds is below one Model attempt:

* least outstanding requests, weighted (`models/router.py`), with an AIMD limit per endpoint
  (a 429 halves that endpoint's limit, not the role's);
* failover: a request that fails on an endpoint for a reason another endpoint may not share
  (connection refused or reset, timeout, 5xx, 429, an unreadable body) goes on at once to the
  least loaded endpoint it has not tried; only when every endpoint has failed it does the
  error reach `Model`, which backs off and retries as for one server;
* per-endpoint counters, reported beside the role's in the run summary.

The identity (the cache key) names the model and not the endpoints: they are interchangeable
by definition, so an answer cached from one is valid from any, and a fleet that grows or
shrinks keeps its cache.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sagert.models.limiter import AdaptiveLimiter
from sagert.models.provider import ModelProvider, ProviderError
from sagert.models.router import Router
from sagert.models.spec import RoutingPolicy
from sagert.models.types import GenerateConfig, Message, ModelOutput


@dataclass
class EndpointStats:
    """What one endpoint did; `requests` counts HTTP requests, failovers included."""

    requests: int = 0
    ok: int = 0
    errors: int = 0
    failovers: int = 0
    """Requests that failed here and went on to another endpoint."""
    rate_limited: int = 0
    ejections: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    call_seconds: float = 0.0


@dataclass
class Member:
    url: str
    provider: ModelProvider
    limiter: AdaptiveLimiter
    stats: EndpointStats


def display_url(url: str) -> str:
    """The URL without user:password@, for summaries and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


Call = Callable[[ModelProvider], Awaitable[ModelOutput]]


class RoutedProvider:
    """A ModelProvider over several interchangeable ones (see the module docstring)."""

    def __init__(
        self,
        name: str,
        members: Sequence[tuple[str, ModelProvider, float, int]],
        identity: dict[str, Any],
        *,
        policy: RoutingPolicy | None = None,
        attempt_timeout: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`members`: (url, provider, weight, connection limit) per endpoint."""
        if not members:
            raise ValueError("a fleet needs at least one endpoint")
        self.name = name
        self._identity = identity
        self.attempt_timeout = attempt_timeout
        self.members = [
            Member(display_url(url), p, AdaptiveLimiter(limit), EndpointStats())
            for url, p, _, limit in members
        ]
        self.router = Router(
            [
                (m.url, weight, limit)
                for m, (_, _, weight, limit) in zip(self.members, members, strict=True)
            ],
            policy,
            clock=clock,
        )
        self.default_max_connections = sum(limit for *_, limit in members)
        self.default_timeout = attempt_timeout
        self.attempts_per_call = len(members)
        """Endpoints one call may try: Model's per-call timeout is multiplied by it."""

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        return await self._route(lambda p: p.generate(messages, config))

    async def complete(self, prompt: str, config: GenerateConfig) -> ModelOutput:
        async def call(p: ModelProvider) -> ModelOutput:
            complete = getattr(p, "complete", None)
            if complete is None:
                raise ProviderError("no completion endpoint", retryable=False)
            out: ModelOutput = await complete(prompt, config)
            return out

        return await self._route(call)

    async def _route(self, call: Call) -> ModelOutput:
        tried: set[int] = set()
        failed: tuple[int, Exception] | None = None
        while True:
            index = self.router.pick(exclude=tried)
            if index is None:
                if failed is not None:
                    raise failed[1]  # every endpoint it could go to failed: Model retries
                wait = self.router.wait_time()
                raise ProviderError(
                    f"all {len(self.members)} endpoints are out of service"
                    f" (next probe in {wait:.1f} s)",
                    retryable=True,
                    retry_after=wait,
                )
            if failed is not None:
                self.members[failed[0]].stats.failovers += 1
            try:
                return await self._attempt(index, call)
            except Exception as exc:
                if not self.is_retryable(exc):
                    raise
                tried.add(index)
                failed = (index, exc)

    async def _attempt(self, index: int, call: Call) -> ModelOutput:
        """One request on one endpoint (already counted outstanding by the router)."""
        member, state = self.members[index], self.router.endpoints[index]
        stats, limiter = member.stats, member.limiter
        healthy: bool | None = None
        try:
            async with limiter:
                stats.requests += 1
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(self.attempt_timeout):
                        output = await call(member.provider)
                except TimeoutError as exc:
                    raise TimeoutError(
                        f"{member.url}: no answer within {self.attempt_timeout:g} s"
                    ) from exc
                finally:
                    stats.call_seconds += time.perf_counter() - started
                limiter.on_success()
        except Exception as exc:
            stats.errors += 1
            if isinstance(exc, ProviderError) and exc.status == 429:
                limiter.on_rate_limited()
                stats.rate_limited += 1
            elif self.is_retryable(exc):
                healthy = False
            raise
        else:
            healthy = True
            stats.ok += 1
            stats.prompt_tokens += output.usage.prompt_tokens
            stats.completion_tokens += output.usage.completion_tokens
            return output
        finally:
            state.limit = limiter.limit
            self.router.release(index, healthy)
            stats.ejections = state.ejections

    def endpoint_stats(self) -> dict[str, dict[str, float | int]]:
        return {m.url: asdict(m.stats) for m in self.members}

    def is_retryable(self, exc: BaseException) -> bool:
        return self.members[0].provider.is_retryable(exc)

    async def aclose(self) -> None:
        for member in self.members:
            await member.provider.aclose()
