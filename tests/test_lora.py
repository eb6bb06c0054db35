"""LoRA through peft (slow): 2 steps of DPO and of SimPO train an adapter; `final/` is the
adapter merged into the weights, it loads, answers through llama.cpp from its f16 GGUF, and
only the adapted matrices differ from the base."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from test_export import build_run

pytestmark = pytest.mark.slow


def _gguf_tensors(path: Path) -> dict[str, object]:
    import gguf
    import numpy as np

    return {t.name: np.array(t.data) for t in gguf.GGUFReader(path).tensors}


def _answer(gguf_path: Path) -> str:
    import sagert.models.providers  # noqa: F401  (registers the providers)
    from sagert.models.provider import providers
    from sagert.models.spec import ModelSpec
    from sagert.models.types import GenerateConfig, Message

    spec = ModelSpec(model=f"llamacpp/{gguf_path.name}", args={"gguf": str(gguf_path)})
    provider = providers.get(spec.provider)(spec)

    async def go() -> str:
        out = await provider.generate(
            [Message(role="user", content="Say hello.")],
            GenerateConfig(temperature=0.0, max_tokens=8),
        )
        await provider.aclose()
        return out.text

    return asyncio.run(go())


@pytest.mark.parametrize("method", ["dpo", "simpo"])
def test_lora_trains_merges_and_converts(tmp_path: Path, write_config, method: str):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    pytest.importorskip("gguf")
    import numpy as np
    from safetensors.numpy import load_file

    from sagert.models.embedded import embedded_gguf_path
    from sagert.settings.train import LoraSettings, TrainSettings
    from sagert.training.to_gguf import folder_to_gguf
    from sagert.training.trainer import finished_training, train

    run_dir = build_run(tmp_path, write_config, "pipeline", formats=["trl"])
    settings = TrainSettings(
        method=method,
        max_steps=2,
        learning_rate=1e-3,  # large: two steps must visibly move a zero-initialised adapter
        lora=LoraSettings(r=4, alpha=8, dropout=0.0),
    )
    out = run_dir / "train" / method
    done = train(run_dir / "export" / "train.jsonl", settings, out)
    assert done.steps == 2 and "size under 1B" in done.recipe
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert not (done.final_model / "adapter_config.json").exists()
    assert finished_training(out, settings) is not None

    base = load_file(str(Path(done.base_model) / "model.safetensors"))
    trained = load_file(str(done.final_model / "model.safetensors"))
    assert set(trained) <= set(base)
    changed = {k for k in trained if not np.array_equal(trained[k], base[k])}
    assert any(k.endswith("self_attn.q_proj.weight") for k in changed)
    assert any(k.endswith("mlp.down_proj.weight") for k in changed)
    assert not {k for k in changed if "norm" in k or "embed_tokens" in k}  # LoRA: linears only

    model = transformers.AutoModelForCausalLM.from_pretrained(done.final_model)
    assert not hasattr(model, "peft_config")

    source = embedded_gguf_path()
    merged = folder_to_gguf(done.final_model, source, tmp_path / "final.gguf")
    from_adapter = folder_to_gguf(out / "adapter", source, tmp_path / "adapter.gguf")
    plain = folder_to_gguf(Path(done.base_model), source, tmp_path / "base.gguf")
    a, b, c = _gguf_tensors(merged), _gguf_tensors(from_adapter), _gguf_tensors(plain)
    assert a.keys() == b.keys() == c.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)  # merged on disk == merged in memory
    assert not np.array_equal(a["blk.0.attn_q.weight"], c["blk.0.attn_q.weight"])
    assert np.array_equal(a["token_embd.weight"], c["token_embd.weight"])
    assert isinstance(_answer(merged), str)
