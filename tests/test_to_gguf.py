"""A transformers folder back into a GGUF: the Q/K permutation, what converts, and (slow) that
llama.cpp then answers as the base GGUF / the transformers provider does."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from sagert.core.errors import UserError
from sagert.models.spec import ModelSpec
from sagert.settings.train import TrainSettings

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "How do I bake bread at home?",
    "Explain photosynthesis to a child.",
    "Why is the sky blue?",
]


def test_permute_inverts_what_transformers_undoes():
    np = pytest.importorskip("numpy")
    utils = pytest.importorskip("transformers.modeling_gguf_pytorch_utils")
    from sagert.training.to_gguf import permute

    undo = utils.LlamaTensorProcessor(config={})._reverse_permute_weights
    rng = np.random.default_rng(0)
    for n_head, n_kv, rows in ((9, 9, 576), (9, 3, 192)):
        gguf_rows = rng.normal(size=(rows, 16)).astype(np.float32)
        hf = undo(gguf_rows, n_head, n_kv)
        assert not np.array_equal(hf, gguf_rows)  # it does move rows
        assert np.array_equal(permute(hf, n_head, n_kv), gguf_rows)


def test_only_full_llama_folders_convert(tmp_path: Path):
    pytest.importorskip("gguf")
    pytest.importorskip("safetensors")
    from sagert.models.embedded import embedded_gguf_path
    from sagert.training.to_gguf import convertible, folder_to_gguf

    base = embedded_gguf_path()
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    assert "LoRA" in (convertible(adapter, base) or "")
    qwen = tmp_path / "qwen"
    qwen.mkdir()
    (qwen / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    (qwen / "model.safetensors").write_bytes(b"")
    assert "'qwen2'" in (convertible(qwen, base) or "")
    with pytest.raises(UserError, match="only llama"):
        folder_to_gguf(qwen, base, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


def test_a_rewritten_gguf_is_another_model(tmp_path: Path):
    """align rewrites final.gguf in place after a new training: its answers must not resume."""
    from sagert.models.providers.llamacpp import make_llamacpp

    path = tmp_path / "final.gguf"
    path.write_bytes(b"GGUF one")
    spec = ModelSpec(model="llamacpp/final.gguf", args={"gguf": str(path)})
    before = make_llamacpp(spec).identity()
    path.write_bytes(b"GGUF two, longer")
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert make_llamacpp(spec).identity() != before
    assert make_llamacpp(ModelSpec(model="llamacpp/smollm2")).identity()["gguf"] == "embedded"


def test_a_child_training_error_is_the_same_one_line(tmp_path: Path):
    for name in ("torch", "transformers", "datasets"):
        pytest.importorskip(name)
    from sagert.training.child import train_in_child

    export = tmp_path / "train.jsonl"
    export.write_text("")
    with pytest.raises(UserError) as caught:
        train_in_child(export, TrainSettings(heldout_fraction=0.2), tmp_path / "out")
    assert str(caught.value) == f"{export}: no training pairs (fix: generate more pairs first)"
    assert not list((tmp_path / "out").glob(".train-error-*"))  # the error file is cleaned up


# --- slow: real conversions and both engines --------------------------------------------------


@pytest.fixture(scope="module")
def base_folder(module_dir: Path) -> tuple[Path, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    from sagert.models.embedded import embedded_gguf_path
    from sagert.training.gguf import gguf_to_folder

    base = embedded_gguf_path()
    return base, gguf_to_folder(base, module_dir / "base")


def _answers(model: str, args: dict[str, Any], prompts: list[str], tokens: int) -> list[str]:
    import sagert.models.providers  # noqa: F401
    from sagert.models.provider import providers
    from sagert.models.types import GenerateConfig, Message

    spec = ModelSpec(model=model, args=args)
    provider = providers.get(spec.provider)(spec)
    config = GenerateConfig(temperature=0.0, max_tokens=tokens)

    async def go() -> list[str]:
        outs = await asyncio.gather(
            *(provider.generate([Message(role="user", content=p)], config) for p in prompts)
        )
        await provider.aclose()
        return [o.text for o in outs]

    return asyncio.run(go())


def _llama(gguf: Path, tokens: int = 24) -> list[str]:
    return _answers(f"llamacpp/{gguf.name}", {"gguf": str(gguf), "n_parallel": 4}, PROMPTS, tokens)


@pytest.mark.slow
@pytest.mark.ci
def test_round_trip_in_base_types_is_the_base(base_folder: tuple[Path, Path], tmp_path: Path):
    import gguf
    import numpy as np

    from sagert.training.to_gguf import folder_to_gguf

    base, folder = base_folder
    out = folder_to_gguf(folder, base, tmp_path / "rt.gguf", "base")
    a, b = gguf.GGUFReader(base), gguf.GGUFReader(out)
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    for x, y in zip(a.tensors, b.tensors, strict=True):
        assert x.tensor_type == y.tensor_type and np.array_equal(x.data, y.data), x.name
    assert set(a.fields) == set(b.fields)
    assert _llama(out) == _llama(base)


@pytest.mark.slow
@pytest.mark.ci
def test_a_changed_model_answers_in_llamacpp_as_in_transformers(
    base_folder: tuple[Path, Path], tmp_path: Path
):
    """Noise of 1% of each tensor's std stands for a training: off the Q4_1 grid, f16 GGUF."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    from sagert.training.to_gguf import folder_to_gguf

    base, folder = base_folder
    changed = tmp_path / "changed"
    changed.mkdir()
    for f in folder.iterdir():
        if f.suffix != ".safetensors":
            (changed / f.name).write_bytes(f.read_bytes())
    rng = np.random.default_rng(0)
    tensors = load_file(str(folder / "model.safetensors"))
    noisy = {
        k: v + rng.normal(0, 0.01 * float(v.std()), v.shape).astype(v.dtype)
        for k, v in tensors.items()
    }
    save_file(noisy, str(changed / "model.safetensors"), metadata={"format": "pt"})
    out = folder_to_gguf(changed, base, tmp_path / "changed.gguf")
    via_llama = _llama(out, 16)
    via_hf = _answers(f"transformers/{changed}", {"device": "cpu"}, PROMPTS, 16)
    same = sum(x == y for x, y in zip(via_llama, via_hf, strict=True))
    first_words = sum(
        x.split()[:3] == y.split()[:3] for x, y in zip(via_llama, via_hf, strict=True)
    )
    assert same >= 3 and first_words == len(PROMPTS), list(zip(via_llama, via_hf, strict=True))
