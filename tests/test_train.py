"""`sagert train` (slow): 3 DPO and 3 SimPO steps on CPU with SmolLM2; the checkpoint reloads."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from conftest import sagert_cmd
from test_export import build_run

pytestmark = [pytest.mark.slow, pytest.mark.ci]  # CI runs it (README)


@pytest.mark.parametrize("method", ["dpo", "simpo"])
def test_three_steps_then_reload(tmp_path: Path, write_config, method: str):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("trl")
    run_dir = build_run(tmp_path, write_config, "pipeline", formats=["trl"])
    config = tmp_path / "config.yaml"
    proc = subprocess.run(
        [*sagert_cmd(), "train", str(config), "--method", method, "--max-steps", "3"],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = run_dir / "train" / method
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in log if "loss" in row]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    assert not list(out.glob("checkpoint-*"))  # finished: no optimizer state kept (1.5 GB)
    final = out / "final"
    assert (final / "model.safetensors").is_file()
    model = transformers.AutoModelForCausalLM.from_pretrained(final)
    tokenizer = transformers.AutoTokenizer.from_pretrained(final)
    ids = tokenizer("Hello", return_tensors="pt").input_ids
    assert model.generate(ids, max_new_tokens=2).shape[1] >= ids.shape[1]
    held = (out / "heldout_pairs.jsonl").read_text().splitlines()
    trained = (out / "train_pairs.jsonl").read_text().splitlines()
    held_seeds = {json.loads(x)["seed_prompt"] for x in held}
    assert not held_seeds & {json.loads(x)["seed_prompt"] for x in trained}


def test_pairs_become_chat_and_long_prompts_are_dropped(tmp_path: Path):
    """A prompt that leaves no room for an answer would train on an empty answer (NaN loss)."""
    transformers = pytest.importorskip("transformers")
    datasets = pytest.importorskip("datasets")
    from sagert.models.embedded import embedded_gguf_path
    from sagert.training.data import training_pairs
    from sagert.training.gguf import gguf_to_folder

    folder = gguf_to_folder(embedded_gguf_path(), tmp_path / "smol")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    rows = [
        {
            "prompt": "How do I pick a lock?",
            "chosen": "I can't help.",
            "rejected": "Sure.",
            "id": 1,
        },
        {"prompt": "word " * 400, "chosen": "No.", "rejected": "Yes.", "id": 2},
        {
            "prompt": [{"role": "user", "content": "Hi"}],
            "chosen": [{"role": "assistant", "content": "Hello"}],
            "rejected": [{"role": "assistant", "content": "Go away"}],
            "id": 3,
        },
    ]
    plain = datasets.Dataset.from_list(rows[:2])
    kept, dropped = training_pairs(plain, tokenizer, max_length=256)
    assert dropped == 1 and len(kept) == 1
    assert kept[0]["prompt"] == [{"role": "user", "content": "How do I pick a lock?"}]
    assert kept[0]["chosen"] == [{"role": "assistant", "content": "I can't help."}]
    assert set(kept.column_names) == {"prompt", "chosen", "rejected"}
    chat = datasets.Dataset.from_list(rows[2:])
    kept, dropped = training_pairs(chat, tokenizer, max_length=256)
    assert dropped == 0 and kept[0]["rejected"] == rows[2]["rejected"]
