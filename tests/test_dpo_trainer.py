"""TRL's DPOTrainer takes the export as it is (slow: loads SmolLM2 in transformers, 2 steps)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sagert.models.embedded import embedded_gguf_path
from sagert.training.gguf import gguf_to_folder
from test_export import build_run

pytestmark = [pytest.mark.slow, pytest.mark.ci]  # CI runs it (README)


def test_dpo_trainer_accepts_the_export_unchanged(tmp_path: Path, write_config):
    datasets = pytest.importorskip("datasets")
    transformers = pytest.importorskip("transformers")
    trl = pytest.importorskip("trl")
    pytest.importorskip("gguf")

    run_dir = build_run(tmp_path, write_config, "pipeline", formats=["trl"])
    train = datasets.load_dataset(
        "json", data_files=str(run_dir / "export" / "train.jsonl"), split="train"
    )

    folder = gguf_to_folder(embedded_gguf_path(), tmp_path / "smollm2")
    assert (folder / "model.safetensors").is_file()
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)

    args = trl.DPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        max_length=128,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
    )
    trainer = trl.DPOTrainer(
        model=model, args=args, train_dataset=train, processing_class=tokenizer
    )
    result = trainer.train()
    assert result.global_step == 2 and math.isfinite(result.training_loss)
