"""A role served by a fleet: routing, cool-down and probes, failover, and a server killed
in the middle of a `respond` run over three real HTTP test servers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sagert.models.cache import ResponseCache
from sagert.models.model import Model, ModelCallError
from sagert.models.provider import ProviderError
from sagert.models.providers.mock import MockFault, MockProvider
from sagert.models.providers.openai import OpenAIProvider, make_openai
from sagert.models.providers.routed import RoutedProvider
from sagert.models.router import Router
from sagert.models.spec import ModelSpec, RetryPolicy, RoutingPolicy
from sagert.models.types import GenerateConfig, Message
from sagert.settings.run import load_config
from sagert.workflows import respond

HI = [Message(role="user", content="hi")]
FAST = RetryPolicy(max_attempts=4, initial_wait=0.0, max_wait=0.0, jitter=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the router ------------------------------------------------------------------------------


def test_least_outstanding_requests_wins():
    router = Router([("a", 1.0, 10), ("b", 1.0, 10), ("c", 1.0, 10)])
    assert [router.pick() for _ in range(3)] == [0, 1, 2]
    router.release(1, True)
    assert router.pick() == 1  # the only one with nothing outstanding
    router.release(0, True)
    router.release(2, True)
    assert router.pick() == 0
    assert router.pick() == 2
    assert [ep.outstanding for ep in router.endpoints] == [1, 1, 1]


def test_weights_share_the_load_in_proportion():
    router = Router([("big", 3.0, 100), ("small", 1.0, 100)])
    picks = Counter(router.pick() for _ in range(40))
    assert picks == {0: 30, 1: 10}


def test_an_endpoint_at_its_limit_loses_to_one_with_room():
    router = Router([("a", 10.0, 2), ("b", 1.0, 100)])
    assert [router.pick() for _ in range(4)] == [0, 0, 1, 1]
    router.endpoints[0].limit = 1  # AIMD halved it
    router.release(0, True)
    assert router.pick() == 1  # a still has 1 outstanding = its limit


def test_failures_in_a_row_eject_then_one_probe_brings_it_back():
    clock = Clock()
    policy = RoutingPolicy(failures_to_eject=2, cooldown=5.0, max_cooldown=60.0)
    router = Router([("a", 1.0, 10), ("b", 1.0, 10)], policy, clock=clock)
    for _ in range(2):
        assert router.pick(exclude={1}) == 0
        router.release(0, False)
    assert not router.endpoints[0].in_service and router.in_service() == 1
    assert all(router.pick() == 1 for _ in range(5))  # a is out: everything goes to b
    assert router.pick(exclude={1}) is None
    assert router.wait_time() == pytest.approx(0.0)  # b can still take requests
    clock.now += 5.01
    assert router.pick() == 0  # the cool-down is over: this request is the probe
    assert router.endpoints[0].probing
    assert router.pick(exclude={1}) is None  # one probe at a time
    router.release(0, False)  # the probe failed: out again, for twice as long
    assert router.endpoints[0].down_until == pytest.approx(clock.now + 10.0)
    assert router.endpoints[0].ejections == 2
    clock.now += 9.0
    assert router.pick(exclude={1}) is None
    clock.now += 1.1
    assert router.pick(exclude={1}) == 0
    router.release(0, True)  # the probe answered: back in service
    assert router.endpoints[0].in_service and router.endpoints[0].failures_in_row == 0
    assert router.pick(exclude={1}) == 0 and router.pick(exclude={1}) == 0


def test_a_success_between_failures_resets_the_count_and_429_is_not_a_failure():
    router = Router([("a", 1.0, 10)], RoutingPolicy(failures_to_eject=2))
    for healthy in (False, True, False, None, None, None):
        router.pick()
        router.release(0, healthy)
    assert router.endpoints[0].in_service


def test_all_out_of_service_reports_the_wait():
    clock = Clock()
    router = Router([("a", 1.0, 10)], RoutingPolicy(failures_to_eject=1, cooldown=3.0), clock=clock)
    router.pick()
    router.release(0, False)
    assert router.pick() is None and router.wait_time() == pytest.approx(3.0)


# -- the routed provider ---------------------------------------------------------------------

DOWN = MockFault(error="connection refused", retryable=True)


def _fleet(*members: MockProvider, **kw) -> RoutedProvider:
    return RoutedProvider(
        "openai/m",
        [(f"http://h{i}/v1", m, 1.0, 8) for i, m in enumerate(members)],
        {"provider": "openai", "model": "m", "fleet": True},
        **kw,
    )


def test_a_failed_request_goes_on_to_another_endpoint_at_once():
    async def go() -> None:
        dead = MockProvider("openai/m", lambda m, c: DOWN)
        alive = MockProvider("openai/m", lambda m, c: "ok")
        fleet = _fleet(dead, alive, policy=RoutingPolicy(failures_to_eject=2, cooldown=60.0))
        model = Model(fleet, retry=FAST)
        outs = [await model.generate(HI) for _ in range(6)]
        assert {o.text for o in outs} == {"ok"}
        assert model.stats.calls == 6 and model.stats.retries == 0 and model.stats.failures == 0
        stats = model.endpoint_stats()
        assert stats["http://h0/v1"]["errors"] == 2 and stats["http://h0/v1"]["failovers"] == 2
        assert stats["http://h0/v1"]["ejections"] == 1  # two in a row: taken out, not tried again
        assert stats["http://h1/v1"]["ok"] == 6 and stats["http://h1/v1"]["requests"] == 6
        assert len(dead.received) == 2

    asyncio.run(go())


def test_a_request_the_server_rejects_is_not_failed_over():
    async def go() -> None:
        bad = MockFault(error="HTTP 400: bad request", retryable=False, status=400)
        first = MockProvider("openai/m", lambda m, c: bad)
        second = MockProvider("openai/m", lambda m, c: "ok")
        model = Model(_fleet(first, second), retry=FAST)
        with pytest.raises(ModelCallError, match="400"):
            await model.generate(HI)
        assert second.received == [] and model.stats.calls == 1

    asyncio.run(go())


def test_every_endpoint_failing_reaches_model_retries():
    async def go() -> None:
        members = [MockProvider("openai/m", lambda m, c: DOWN) for _ in range(3)]
        fleet = _fleet(*members, policy=RoutingPolicy(failures_to_eject=100))
        model = Model(fleet, retry=FAST)
        with pytest.raises(ModelCallError, match="connection refused"):
            await model.generate(HI)
        assert model.stats.calls == FAST.max_attempts
        assert [len(m.received) for m in members] == [FAST.max_attempts] * 3

    asyncio.run(go())


def test_all_endpoints_out_is_a_retryable_error_with_the_wait():
    async def go() -> None:
        clock = Clock()
        member = MockProvider("openai/m", lambda m, c: DOWN)
        fleet = _fleet(member, policy=RoutingPolicy(failures_to_eject=1, cooldown=7.0), clock=clock)
        with pytest.raises(ProviderError):
            await fleet.generate(HI, GenerateConfig())
        with pytest.raises(ProviderError, match="out of service") as info:
            await fleet.generate(HI, GenerateConfig())
        assert info.value.retryable and info.value.retry_after == pytest.approx(7.0)

    asyncio.run(go())


def test_429_halves_only_that_endpoints_limit_and_fails_over():
    async def go() -> None:
        busy = MockFault(error="HTTP 429", retryable=True, status=429)
        hot = MockProvider("openai/m", lambda m, c: busy)
        cool = MockProvider("openai/m", lambda m, c: "ok")
        fleet = _fleet(hot, cool)
        model = Model(fleet, retry=FAST)
        assert (await model.generate(HI)).text == "ok"
        assert fleet.members[0].limiter.limit == 4 and fleet.members[1].limiter.limit == 8
        assert model.limiter.limit == model.max_connections == 16  # the role's limit is untouched
        assert fleet.router.endpoints[0].in_service and model.stats.rate_limited == 0

    asyncio.run(go())


def test_the_cache_key_does_not_depend_on_the_endpoint(tmp_path: Path):
    async def go() -> tuple[int, int]:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        a = MockProvider("openai/m", lambda m, c: "answer")
        b = MockProvider("openai/m", lambda m, c: "answer")
        fleet = _fleet(a, b)
        model = Model(fleet, retry=FAST, cache=cache)
        first = await model.generate(HI, GenerateConfig(seed=1))
        # the same call again, with the first endpoint loaded: b would answer, but the cache does
        fleet.router.endpoints[0].outstanding = 5
        second = await model.generate(HI, GenerateConfig(seed=1))
        cache.close()
        assert first.text == second.text and second.cached
        return len(a.received), len(b.received)

    assert asyncio.run(go()) == (1, 0)


def test_a_fleet_in_the_config():
    one = ModelSpec.model_validate({"model": "openai/m", "base_url": "http://a/v1"})
    assert one.fleet() is None and isinstance(make_openai(one), OpenAIProvider)
    listed = ModelSpec.model_validate(
        {"model": "openai/m", "base_url": ["http://a/v1", "http://b/v1"], "max_connections": 32}
    )
    weighted = ModelSpec.model_validate(
        {
            "model": "openai/m",
            "endpoints": [
                {"base_url": "http://a/v1", "weight": 3, "max_connections": 96},
                {"base_url": "http://b/v1"},
            ],
        }
    )
    routed = make_openai(listed)
    assert isinstance(routed, RoutedProvider)
    assert [m.limiter.maximum for m in routed.members] == [32, 32]
    assert routed.identity() == make_openai(weighted).identity()  # no URL in the cache key
    assert "http" not in json.dumps(routed.identity())
    w = make_openai(weighted)
    assert isinstance(w, RoutedProvider)
    assert [(e.weight, e.limit) for e in w.router.endpoints] == [(3.0, 96), (1.0, 64)]
    assert listed.backend_key() != weighted.backend_key()
    for bad, says in (
        ({"base_url": "http://a/v1", "endpoints": [{"base_url": "http://b/v1"}]}, "not both"),
        ({"base_url": []}, "at least one"),
        ({"base_url": ["http://a/v1", "http://a/v1"]}, "twice"),
        ({"endpoints": [{"base_url": "http://a/v1", "weight": 0}]}, "greater than 0"),
    ):
        with pytest.raises(ValueError, match=says):
            ModelSpec.model_validate({"model": "openai/m", **bad})


# -- three real servers, one killed mid-run -------------------------------------------------


@contextmanager
def server_process(latency: float) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    cmd = [sys.executable, "-m", "sagert.testing.openai_server", "--latency", str(latency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        yield line.removeprefix("listening on "), proc
    finally:
        proc.kill()
        proc.wait()


def _server_requests(base_url: str) -> int:
    stats_url = base_url.removesuffix("/v1") + "/stats"
    with urllib.request.urlopen(stats_url, timeout=2) as resp:
        return int(json.loads(resp.read())["requests"])


def _config(tmp_path: Path, name: str, base_url: object) -> Path:
    data = {
        "name": name,
        "runs_dir": str(tmp_path / "runs"),
        "cache": False,
        "stages": {"respond": {"concurrency": 24}},
        "models": {
            "target": {
                "model": "openai/test-model",
                "base_url": base_url,
                "timeout": 5.0,
                "routing": {"failures_to_eject": 2, "cooldown": 0.2, "max_cooldown": 1.0},
                "retry": {"max_attempts": 6, "initial_wait": 0.05, "max_wait": 0.2, "jitter": 0},
            }
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _records(run_dir: Path) -> list[dict]:
    path = run_dir / "stages" / "respond.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


N_PROMPTS = 400


def test_a_server_killed_mid_run_loses_no_record(tmp_path: Path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"question number {i}\n" for i in range(N_PROMPTS)))
    with (
        server_process(0.1) as (url_a, _),
        server_process(0.1) as (url_b, victim),
        server_process(0.1) as (url_c, _),
    ):
        single = respond.run(load_config(_config(tmp_path, "single", url_a)), prompts)
        assert single.failed == 0
        killed_after = -1

        def kill_when_busy() -> None:
            nonlocal killed_after
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                seen = _server_requests(url_b)
                if seen >= 40:
                    victim.kill()
                    killed_after = seen
                    return
                time.sleep(0.005)

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        fleet_cfg = load_config(_config(tmp_path, "fleet", [url_a, url_b, url_c]))
        summary = respond.run(fleet_cfg, prompts)
        killer.join()
    assert killed_after >= 40, "the victim was never killed"
    fleet_rows, single_rows = (
        _records(tmp_path / "runs" / "fleet"),
        _records(tmp_path / "runs" / "single"),
    )
    ids = Counter(r["id"] for r in fleet_rows)
    assert len(fleet_rows) == N_PROMPTS and max(ids.values()) == 1  # none lost or duplicated
    assert all(r["status"] == "ok" for r in fleet_rows)  # every request found a live server
    assert summary.failed == 0 and summary.written == N_PROMPTS
    by_id = {r["id"]: r for r in single_rows}
    assert {r["id"]: r for r in fleet_rows} == by_id  # the same records as one healthy server
    manifest = json.loads((tmp_path / "runs" / "fleet" / "manifest.json").read_text())
    calls = manifest["stages"]["respond"]["calls"]["openai/test-model"]
    endpoints = calls["endpoints"]
    assert set(endpoints) == {url_a, url_b, url_c}
    dead = endpoints[url_b]
    assert dead["ok"] >= 1 and dead["errors"] >= 1 and dead["failovers"] >= 1
    assert dead["ejections"] >= 1
    assert endpoints[url_a]["ok"] + endpoints[url_c]["ok"] + dead["ok"] == N_PROMPTS
    # every error on an endpoint either went on to another endpoint or back to Model's retries
    errors = sum(e["errors"] for e in endpoints.values())
    failovers = sum(e["failovers"] for e in endpoints.values())
    assert failovers <= errors <= failovers + calls["retries"]
    assert sum(e["requests"] for e in endpoints.values()) == N_PROMPTS + errors
    assert calls["failures"] == 0
    seconds = manifest["stages"]["respond"]["seconds"]
    assert calls["requests_per_second"] == pytest.approx(calls["calls"] / seconds, rel=0.01)
    for ep in endpoints.values():
        assert ep["requests_per_second"] == pytest.approx(ep["requests"] / seconds, rel=0.01)
        tokens = ep["prompt_tokens"] + ep["completion_tokens"]
        assert ep["tokens_per_second"] == pytest.approx(tokens / seconds, rel=0.01)
