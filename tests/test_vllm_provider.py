"""The vllm provider: its batching, prompts and parsing against a stand-in `vllm` module (vLLM
itself is not installed here), and a `gpu` test on the real engine with a tiny model."""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import os
import sys
import types
from typing import Any, ClassVar

import pytest

from sagert.engine.ray_executor import gpus_per_actor
from sagert.models.model import Model
from sagert.models.provider import providers
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message

TINY = os.environ.get("SAGERT_TEST_VLLM_MODEL", "HuggingFaceTB/SmolLM2-135M-Instruct")


class FakeTokenizer:
    def apply_chat_template(self, chat: list[dict], tokenize: bool, add_generation_prompt: bool):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}" for m in chat) + "<assistant>"


class FakeLLM:
    """Answers `echo:<prompt>` cut to max_tokens characters; records every generate()."""

    made: ClassVar[list[dict[str, Any]]] = []
    batches: ClassVar[list[list[str]]] = []

    def __init__(self, **kwargs: Any) -> None:
        FakeLLM.made.append(kwargs)

    def get_tokenizer(self) -> FakeTokenizer:
        return FakeTokenizer()

    def generate(self, prompts: list[str], params: list[Any], use_tqdm: bool) -> list[Any]:
        assert len(prompts) == len(params) and use_tqdm is False
        FakeLLM.batches.append(list(prompts))
        out = []
        for prompt, p in zip(prompts, params, strict=True):
            text = f"echo:{prompt}"
            finish = "length" if len(text) > p.kwargs["max_tokens"] else "stop"
            text = text[: p.kwargs["max_tokens"]]
            completion = types.SimpleNamespace(text=text, token_ids=[0] * len(text),
                                               finish_reason=finish)  # fmt: skip
            out.append(types.SimpleNamespace(prompt_token_ids=[0] * len(prompt),
                                             outputs=[completion]))  # fmt: skip
        return out


class FakeSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    module.LLM = FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    sampling = types.ModuleType("vllm.sampling_params")
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    FakeLLM.made, FakeLLM.batches = [], []
    return module


def _model(args: dict[str, Any] | None = None) -> Model:
    spec = ModelSpec(model="vllm/org/tiny", args=args or {})
    return Model(providers.get("vllm")(spec), max_connections=64, cache=None)


def test_concurrent_calls_share_one_generate_with_their_own_sampling(fake_vllm):
    model = _model({"batch_wait_ms": 200, "max_model_len": 512, "dtype": "bfloat16"})
    hot = GenerateConfig(temperature=0.7, top_p=0.9, max_tokens=400, seed=3, stop=("\n",))

    async def go() -> list[Any]:
        calls = [model.generate([Message(role="user", content=f"q{i}")]) for i in range(5)]
        calls.append(model.generate([Message(role="user", content="warm")], hot))
        try:
            return await asyncio.gather(*calls)
        finally:
            await model.aclose()

    outs = asyncio.run(go())
    assert FakeLLM.made == [{"model": "org/tiny", "tensor_parallel_size": 1,
                             "gpu_memory_utilization": 0.9, "dtype": "bfloat16",
                             "enforce_eager": False, "trust_remote_code": False,
                             "max_model_len": 512}]  # fmt: skip
    assert len(FakeLLM.batches) == 1 and len(FakeLLM.batches[0]) == 6  # one batch, mixed settings
    assert outs[0].text == "echo:<user>q0<assistant>" and outs[0].finish_reason == "stop"
    assert outs[0].usage.prompt_tokens == len("<user>q0<assistant>")
    assert outs[0].usage.completion_tokens == len(outs[0].text)
    assert outs[5].text == "echo:<user>warm<assistant>"


def test_sampling_params_come_from_the_generate_config(fake_vllm):
    from sagert.models.providers.vllm import sampling_params

    hot = sampling_params(fake_vllm, GenerateConfig(temperature=0.7, top_p=0.9, max_tokens=12,
                                                     seed=3, stop=("\n", "END")))  # fmt: skip
    assert hot.kwargs == {"temperature": 0.7, "top_p": 0.9, "max_tokens": 12, "seed": 3,
                          "stop": ["\n", "END"]}  # fmt: skip
    plain = sampling_params(fake_vllm, GenerateConfig())
    assert plain.kwargs == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 256, "seed": None}


def test_prefill_and_length_cut(fake_vllm):
    model = _model({"batch_wait_ms": 0})
    messages = [Message(role="user", content="hi"), Message(role="assistant", content="Sure")]

    async def go() -> Any:
        try:
            return await model.generate(messages, GenerateConfig(max_tokens=8, prefill=", "))
        finally:
            await model.aclose()

    out = asyncio.run(go())
    # the trailing assistant message and the prefill open the prompt and the answer
    assert FakeLLM.batches == [["<user>hi<assistant>Sure, "]]
    assert out.text == "Sure, echo:<us" and out.finish_reason == "length"


def test_identity_names_the_model_not_the_engine_settings(fake_vllm):
    one = providers.get("vllm")(ModelSpec(model="vllm/org/tiny"))
    two = providers.get("vllm")(
        ModelSpec(model="vllm/org/tiny", args={"gpu_memory_utilization": 0.5})
    )
    other = providers.get("vllm")(ModelSpec(model="vllm/org/other"))
    assert one.identity() == two.identity() != other.identity()
    assert one.identity()["provider"] == "vllm"


def test_a_vllm_role_reserves_its_gpus_on_each_ray_actor():
    judge = ModelSpec(model="vllm/org/tiny", args={"tensor_parallel_size": 2})
    same = ModelSpec(model="vllm/org/tiny", args={"tensor_parallel_size": 2})  # shared backend
    api = ModelSpec(model="openai/x", base_url="http://127.0.0.1:9/v1")
    pinned = ModelSpec(model="transformers/org/t", num_gpus=0.5)
    assert gpus_per_actor([judge, same, api]) == 2
    assert gpus_per_actor([judge, api, pinned]) == 2.5
    assert gpus_per_actor([api]) == 0


def test_without_vllm_building_one_is_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm fails, as when not installed
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    from sagert.core.errors import ModelNotInstalledError

    with pytest.raises(ModelNotInstalledError) as info:
        providers.get("vllm")(ModelSpec(model="vllm/org/tiny"))
    assert "pip install vllm" in info.value.one_line()


def _gpu_present() -> bool:
    if importlib.util.find_spec("vllm") is None or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_present(), reason="needs vllm and a CUDA GPU")
def test_vllm_generates_with_a_tiny_model_on_a_gpu():
    spec = ModelSpec(
        model=f"vllm/{TINY}",
        args={"gpu_memory_utilization": 0.3, "max_model_len": 1024, "enforce_eager": True},
    )
    model = Model(providers.get("vllm")(spec), max_connections=64, cache=None)
    greedy = GenerateConfig(temperature=0.0, max_tokens=16, seed=1)

    async def go() -> list[Any]:
        try:
            asks = [[Message(role="user", content=f"Count from 1 to {n}.")] for n in range(3, 11)]
            outs = await asyncio.gather(*(model.generate(m, greedy) for m in asks))
            again = await model.generate(asks[0], greedy)
            short = await model.generate(asks[0], GenerateConfig(temperature=0.0, max_tokens=2))
            return [*outs, again, short]
        finally:
            await model.aclose()

    outs = asyncio.run(go())
    assert all(o.text.strip() and o.usage.prompt_tokens > 5 for o in outs[:8])
    assert all(0 < o.usage.completion_tokens <= 16 for o in outs[:8])
    assert all(o.finish_reason in {"stop", "length"} for o in outs)
    assert outs[8].text == outs[0].text  # greedy: alone or in a batch, the same answer
    assert outs[9].finish_reason == "length" and outs[9].usage.completion_tokens == 2
