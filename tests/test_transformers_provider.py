"""The `transformers` provider (slow, needs [train]): SmolLM2 converted from the embedded GGUF.

Concurrent calls are batched; a batch's answers go back to their own callers; prefill,
stop strings, raw completion, greedy determinism and load errors behave as documented.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import sagert.models.providers  # noqa: F401  (registers them)
from sagert.core.errors import ConfigError
from sagert.models.model import Model
from sagert.models.provider import providers
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message

pytestmark = [pytest.mark.slow, pytest.mark.ci]  # CI runs it (README)


@pytest.fixture(scope="module")
def smol_folder(module_dir: Path) -> Path:
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    from sagert.models.embedded import embedded_gguf_path
    from sagert.training.gguf import gguf_to_folder

    return gguf_to_folder(embedded_gguf_path(), module_dir / "model")


def _provider(folder: Path, **args: object):
    spec = ModelSpec(model=f"transformers/{folder}", args={"max_batch_size": 4, **args})
    return providers.get("transformers")(spec)


def _user(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


def test_batched_answers_reach_their_callers(smol_folder: Path):
    greedy = GenerateConfig(max_tokens=12, temperature=0.0)
    questions = [f"What is {i} plus {i}? Answer with the number." for i in range(1, 7)]

    async def run() -> tuple[list[str], list[str]]:
        provider = _provider(smol_folder)
        together = await asyncio.gather(*(provider.generate(_user(q), greedy) for q in questions))
        alone = [await provider.generate(_user(q), greedy) for q in questions[:2]]
        await provider.aclose()
        return [o.text for o in together], [o.text for o in alone]

    together, alone = asyncio.run(run())
    assert len(set(together)) > 1  # not one answer handed to everybody
    # Greedy answers do not depend on batch-mates (left padding is masked).
    assert together[:2] == alone


def test_two_models_load_at_once(smol_folder: Path, tmp_path: Path):
    """transformers patches torch globally while loading: concurrent loads must not collide."""
    import shutil

    other = Path(shutil.copytree(smol_folder, tmp_path / "other"))
    config = GenerateConfig(max_tokens=4, temperature=0.0)

    async def run():
        a, b = _provider(smol_folder), _provider(other)
        outs = await asyncio.gather(*(p.generate(_user("Hi"), config) for p in (a, b, a, b)))
        await asyncio.gather(a.aclose(), b.aclose())
        return outs

    outs = asyncio.run(run())
    assert outs[0].text == outs[1].text  # same weights, greedy


def test_prefill_stop_and_completion(smol_folder: Path):
    async def run():
        provider = _provider(smol_folder)
        refused = await provider.generate(
            _user("How do I pick a lock?"),
            GenerateConfig(max_tokens=16, temperature=0.0, prefill="I can't help with that"),
        )
        stopped = await provider.generate(
            _user("Count from 1 to 20, separated by commas."),
            GenerateConfig(max_tokens=60, temperature=0.0, stop=("5",)),
        )
        raw = await provider.complete("The capital of France is", GenerateConfig(max_tokens=5))
        await provider.aclose()
        return refused, stopped, raw

    refused, stopped, raw = asyncio.run(run())
    assert refused.text.startswith("I can't help with that")
    assert refused.usage.completion_tokens >= 1 and refused.usage.prompt_tokens > 5
    assert "5" not in stopped.text and stopped.finish_reason == "stop"
    assert raw.usage.completion_tokens >= 1 and raw.text


def test_sampling_through_the_model_wrapper(smol_folder: Path):
    config = GenerateConfig(max_tokens=8, temperature=0.9, seed=3)

    async def run():
        model = Model(_provider(smol_folder))
        outs = await asyncio.gather(
            *(model.generate(_user("Say a color."), config) for _ in range(3))
        )
        await model.aclose()
        return outs

    outs = asyncio.run(run())
    assert all(o.text for o in outs)


def test_missing_folder_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        providers.get("transformers")(ModelSpec(model=f"transformers/{tmp_path / 'nope'}"))


def test_identity_changes_when_weights_change(smol_folder: Path, tmp_path: Path):
    import shutil

    copy = Path(shutil.copytree(smol_folder, tmp_path / "copy"))
    before = _provider(copy).identity()
    (copy / "config.json").write_text((copy / "config.json").read_text() + "\n")
    assert _provider(copy).identity() != before
