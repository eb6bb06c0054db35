"""The OpenAI-compatible test server: replies, each fault, exact counters, seeded fault rates."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import aiohttp
import pytest

from sagert.models.model import Model, ModelCallError
from sagert.models.providers.openai import OpenAIProvider
from sagert.models.spec import RetryPolicy
from sagert.models.types import Message
from sagert.testing import OpenAITestServer, ServerThread

FAST = RetryPolicy(max_attempts=6, initial_wait=0.0, max_wait=0.0, jitter=0.0)
HI = [Message(role="user", content="hi there")]


def chat_body(text: str = "hello big world") -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": text},
        ],
    }


async def post(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any]
) -> tuple[int, dict[str, str], bytes]:
    async with session.post(url, json=body) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def test_ok_chat_echoes_and_counts_words():
    async def main() -> None:
        async with OpenAITestServer() as server, aiohttp.ClientSession() as s:
            assert server.base_url.startswith("http://127.0.0.1:")
            status, _, raw = await post(s, f"{server.base_url}/chat/completions", chat_body())
            assert status == 200
            data = json.loads(raw)
            assert data["choices"][0]["message"] == {
                "role": "assistant",
                "content": "echo: hello big world",
            }
            assert data["model"] == "m"
            assert data["usage"] == {
                "prompt_tokens": 5,  # "be brief" + "hello big world"
                "completion_tokens": 4,
                "total_tokens": 9,
            }
            assert server.stats.requests == 1
            assert server.stats.outcomes == {"ok": 1}

    asyncio.run(main())


def test_completions_models_stats_and_custom_reply():
    async def main() -> None:
        reply = lambda body: "custom " + str(len(body))  # noqa: E731
        async with OpenAITestServer(reply=reply) as server, aiohttp.ClientSession() as s:
            status, _, raw = await post(
                s, f"{server.base_url}/completions", {"model": "m", "prompt": "a b c"}
            )
            assert status == 200
            data = json.loads(raw)
            assert data["choices"][0]["text"] == "custom 2"
            assert data["usage"]["prompt_tokens"] == 3
            assert data["usage"]["completion_tokens"] == 2
            async with s.get(f"{server.base_url}/models") as resp:
                models = await resp.json()
            assert models["data"][0]["id"]
            root = server.base_url.removesuffix("/v1")
            async with s.get(f"{root}/stats") as resp:
                stats = await resp.json()
            assert stats["requests"] == 1
            assert stats["outcomes"] == {"ok": 1}

    asyncio.run(main())


def test_default_completion_echo():
    async def main() -> None:
        async with OpenAITestServer() as server, aiohttp.ClientSession() as s:
            _, _, raw = await post(s, f"{server.base_url}/completions", {"prompt": "x y"})
            assert json.loads(raw)["choices"][0]["text"] == "echo: x y"

    asyncio.run(main())


def test_each_fault_does_what_it_says_and_counters_are_exact():
    script = [
        "429",
        "429:0.05",
        "429-no-retry-after",
        "500",
        "garbage",
        "truncated",
        "ok",
    ]

    async def main() -> None:
        async with OpenAITestServer(script=script, retry_after=2) as server:
            url = f"{server.base_url}/chat/completions"
            async with aiohttp.ClientSession() as s:
                results = [await post(s, url, chat_body()) for _ in range(len(script) + 2)]
            statuses = [r[0] for r in results]
            assert statuses == [429, 429, 429, 500, 200, 200, 200, 200, 200]
            assert results[0][1]["Retry-After"] == "2"
            assert results[1][1]["Retry-After"] == "0.05"
            assert "Retry-After" not in results[2][1]
            for _, _, raw in results[4:6]:  # garbage, truncated
                with pytest.raises(ValueError):
                    json.loads(raw)
            ok_body = results[6][2]
            truncated = results[5][2]
            assert 0 < len(truncated) < len(ok_body)
            assert truncated.startswith(b'{"id":"chatcmpl-')
            for _, _, raw in results[6:]:  # after the script: normal answers
                assert (
                    json.loads(raw)["choices"][0]["message"]["content"] == "echo: hello big world"
                )
            stats = server.stats
            assert stats.requests == len(script) + 2
            assert stats.responses == len(script) + 2
            assert stats.outcomes == {
                "429": 2,
                "429-no-retry-after": 1,
                "500": 1,
                "garbage": 1,
                "truncated": 1,
                "ok": 3,
            }
            assert stats.in_flight == 0

    asyncio.run(main())


def test_slow_and_hang():
    async def main() -> None:
        server = OpenAITestServer(latency=0.03, script=["slow", "hang", "ok"], hang_seconds=0.6)
        async with server, aiohttp.ClientSession() as s:
            url = f"{server.base_url}/chat/completions"
            started = time.perf_counter()
            status, _, _ = await post(s, url, chat_body())
            assert status == 200
            assert time.perf_counter() - started >= 0.3  # latency * 10
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await post(s, url, chat_body())
            started = time.perf_counter()
            status, _, _ = await post(s, url, chat_body())
            assert status == 200
            assert time.perf_counter() - started < 0.3
            assert server.stats.outcomes == {"slow": 1, "hang": 1, "ok": 1}

    asyncio.run(main())


def test_stop_is_quick_while_a_request_hangs():
    async def main() -> None:
        server = OpenAITestServer(script=["hang"])  # hang_seconds defaults to an hour
        await server.start()
        async with aiohttp.ClientSession() as s:
            task = asyncio.create_task(post(s, f"{server.base_url}/chat/completions", chat_body()))
            while server.stats.requests == 0:  # noqa: ASYNC110 (polls the server's counter)
                await asyncio.sleep(0.01)
            started = time.perf_counter()
            await server.stop()
            assert time.perf_counter() - started < 3.0
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def _statuses_with_rates(seed: int, n: int = 200) -> tuple[list[int], dict[str, int]]:
    async def main() -> tuple[list[int], dict[str, int]]:
        rates = {"429": 0.2, "500": 0.1, "garbage": 0.05}
        async with OpenAITestServer(fault_rates=rates, seed=seed) as server:
            url = f"{server.base_url}/chat/completions"
            async with aiohttp.ClientSession() as s:
                statuses = [(await post(s, url, chat_body()))[0] for _ in range(n)]
            return statuses, dict(server.stats.outcomes)

    return asyncio.run(main())


def test_seeded_fault_rates_are_reproducible():
    a, outcomes_a = _statuses_with_rates(seed=7)
    b, outcomes_b = _statuses_with_rates(seed=7)
    c, _ = _statuses_with_rates(seed=8)
    assert a == b and outcomes_a == outcomes_b
    assert a != c
    assert sum(outcomes_a.values()) == 200
    assert a.count(429) == outcomes_a["429"]
    assert a.count(500) == outcomes_a["500"]
    assert 20 <= outcomes_a["429"] <= 60  # 20% of 200, loosely
    assert 0 < outcomes_a["garbage"] < 30


def test_script_comes_before_fault_rates():
    async def main() -> None:
        server = OpenAITestServer(script=["500", "500"], fault_rates={"429": 1.0})
        async with server, aiohttp.ClientSession() as s:
            url = f"{server.base_url}/chat/completions"
            statuses = [(await post(s, url, chat_body()))[0] for _ in range(4)]
        assert statuses == [500, 500, 429, 429]

    asyncio.run(main())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        OpenAITestServer(script=["teapot"])
    with pytest.raises(ValueError, match="more than 1"):
        OpenAITestServer(fault_rates={"429": 0.7, "500": 0.7})


def test_server_thread_for_sync_code():
    with ServerThread(script=["500"]) as server:
        request = urllib.request.Request(
            f"{server.base_url}/chat/completions",
            data=json.dumps(chat_body("sync")).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 500
        with urllib.request.urlopen(request, timeout=5) as resp:
            data = json.loads(resp.read())
        assert data["choices"][0]["message"]["content"] == "echo: sync"
        assert server.stats.outcomes == {"500": 1, "ok": 1}


def test_model_retries_through_every_retryable_fault():
    script = ["429:0.01", "429-no-retry-after", "500", "garbage", "truncated", "ok"]

    async def main() -> None:
        async with OpenAITestServer(script=script) as server:
            model = Model(OpenAIProvider("openai/m", "m", server.base_url), retry=FAST)
            try:
                out = await model.generate(HI)
            finally:
                await model.aclose()
            assert out.text == "echo: hi there"
            assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (2, 3)
            assert (model.stats.calls, model.stats.retries) == (6, 5)
            assert server.stats.requests == 6

    asyncio.run(main())


def test_model_honours_retry_after_and_times_out_a_hang():
    async def main() -> None:
        script = ["429:0.3", "ok", "hang", "ok", "hang", "hang"]
        async with OpenAITestServer(script=script) as server:
            model = Model(
                OpenAIProvider("openai/m", "m", server.base_url),
                retry=RetryPolicy(max_attempts=2, initial_wait=0.0, max_wait=0.0, jitter=0.0),
                timeout=0.2,
            )
            try:
                started = time.perf_counter()
                await model.generate(HI)  # 429 (Retry-After 0.3), then ok
                assert time.perf_counter() - started >= 0.3
                await model.generate(HI)  # hang (timed out), then ok
                with pytest.raises(ModelCallError, match=r"no answer within 0\.2 s"):
                    await model.generate(HI)  # hang, hang
            finally:
                await model.aclose()
            assert (model.stats.calls, model.stats.retries, model.stats.failures) == (6, 3, 1)
            assert server.stats.outcomes == {"429": 1, "ok": 2, "hang": 3}

    asyncio.run(main())


def test_cli_prints_one_line_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "sagert.testing.openai_server", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:") and line.endswith("/v1")
        base_url = line.removeprefix("listening on ")
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Warning" not in err


def test_reply_text_is_escaped_and_unknown_routes_are_refused():
    tricky = 'say "hi"\n\tand ünïcödé \\ {braces} 100%s'

    async def main() -> None:
        async with OpenAITestServer() as server, aiohttp.ClientSession() as s:
            status, _, raw = await post(s, f"{server.base_url}/chat/completions", chat_body(tricky))
            assert status == 200
            assert json.loads(raw)["choices"][0]["message"]["content"] == "echo: " + tricky
            status, _, raw = await post(s, f"{server.base_url}/completions", {"prompt": tricky})
            assert json.loads(raw)["choices"][0]["text"] == "echo: " + tricky
            status, _, _ = await post(s, f"{server.base_url}/embeddings", {})
            assert status == 404
            async with s.get(f"{server.base_url}/chat/completions") as resp:
                assert resp.status == 405
            status, _, raw = await post(s, f"{server.base_url}/chat/completions", [1, 2])
            assert status == 400
            assert server.stats.requests == 3  # the two answered completions and the bad body
            assert server.stats.outcomes == {"ok": 2, "bad-request": 1}

    asyncio.run(main())
