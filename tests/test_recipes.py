"""Training recipes: presets, size classes, explicit settings first; parameter counts from files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagert.core.errors import ConfigError
from sagert.core.validation import validate
from sagert.settings.recipes import PRESETS, SIZE_CLASSES, resolve_recipe, size_class
from sagert.settings.train import TrainSettings
from sagert.training.model_size import config_parameters, count_parameters

SMOLLM2_135M = 134_515_008  # SmolLM2-135M-Instruct: its GGUF's tensors, counted once
SMOLLM2_CONFIG = {
    "model_type": "llama",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "num_hidden_layers": 30,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}


def settings(**data: object) -> TrainSettings:
    return validate(TrainSettings, data, prefix="train")


def test_size_classes_cover_every_size_in_order():
    bounds = [s.below for s in SIZE_CLASSES]
    assert bounds[-1] is None and bounds[:-1] == sorted(b for b in bounds if b is not None)
    assert size_class(SMOLLM2_135M).name == "under 1B"
    assert size_class(999_999_999).name == "under 1B"
    assert size_class(1_000_000_000).name == "1B-4B"
    assert size_class(7_240_000_000).name == "4B-15B"
    assert size_class(70_000_000_000).name == "15B and more"


def test_the_size_class_gives_the_defaults_and_smaller_models_learn_faster():
    small = settings().recipe(SMOLLM2_135M)
    big = settings().recipe(7_240_000_000)
    assert small.learning_rate > big.learning_rate
    assert small.sources["learning_rate"] == "size under 1B"
    assert big.model_dump(include={"learning_rate", "beta", "simpo_gamma"}) == {
        "learning_rate": 1.8e-6,  # the SAGE authors' recipe for a 7B model
        "beta": 5.0,
        "simpo_gamma": 0.8,
    }
    dpo = settings(method="dpo").recipe(SMOLLM2_135M)
    assert dpo.beta < small.beta  # DPO's beta scales a log-ratio, SimPO's a mean log-prob


def test_explicit_settings_beat_the_preset_which_beats_the_size():
    s = settings(preset="sage-simpo", learning_rate=3e-5, max_length=200)
    r = s.recipe(SMOLLM2_135M)
    assert (r.learning_rate, r.max_length) == (3e-5, 200)
    assert r.sources["learning_rate"] == "train.learning_rate"
    assert r.beta == PRESETS["sage-simpo"].recipe.beta
    assert r.sources["beta"] == "preset sage-simpo"
    assert r.epochs == PRESETS["sage-simpo"].recipe.epochs
    assert "learning_rate 3e-05 (train.learning_rate)" in r.describe()


def test_an_unknown_size_falls_back_to_the_method_defaults():
    r = settings(method="dpo").recipe(None)
    assert (r.learning_rate, r.beta) == (5e-7, 0.1)
    assert set(r.sources.values()) == {"size unknown"}


def test_a_preset_brings_its_method_and_a_contradiction_is_one_line():
    assert settings(preset="small-dpo").method == "dpo"
    assert settings(preset="sage-simpo", method="simpo").method == "simpo"
    with pytest.raises(ConfigError, match="preset 'small-dpo' is a dpo recipe"):
        settings(preset="small-dpo", method="simpo")
    with pytest.raises(ConfigError, match="known: sage-simpo, small-dpo, small-simpo"):
        settings(preset="sage")
    # `sagert train --method` overrides a dumped config: the dump must validate again
    again = settings(**settings(preset="small-dpo").model_dump())
    assert again == settings(preset="small-dpo")


def test_resolve_is_a_pure_function_of_its_inputs():
    explicit: dict[str, float | int | None] = {"beta": None, "epochs": 2.0}
    a = resolve_recipe("simpo", explicit, None, SMOLLM2_135M)
    b = resolve_recipe("simpo", explicit, None, SMOLLM2_135M)
    assert a == b and a.epochs == 2.0 and a.parameters == SMOLLM2_135M
    assert explicit == {"beta": None, "epochs": 2.0}


def test_parameters_from_config_safetensors_headers_and_gguf(tmp_path: Path):
    assert config_parameters(SMOLLM2_CONFIG) == SMOLLM2_135M
    untied = config_parameters({**SMOLLM2_CONFIG, "tie_word_embeddings": False})
    assert untied == SMOLLM2_135M + 49152 * 576
    assert config_parameters({"model_type": "llama"}) is None
    np = pytest.importorskip("numpy")
    numpy_st = pytest.importorskip("safetensors.numpy")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"tie_word_embeddings": True}))
    tensors = {
        "model.embed_tokens.weight": np.zeros((10, 4), dtype=np.float32),
        "lm_head.weight": np.zeros((10, 4), dtype=np.float32),
        "model.norm.weight": np.zeros((4,), dtype=np.float16),
    }
    numpy_st.save_file(tensors, str(folder / "model.safetensors"))
    assert count_parameters(folder) == 44  # the tied head is the embedding, counted once
    (folder / "config.json").write_text("{}")
    assert count_parameters(folder) == 84
    assert count_parameters(tmp_path / "absent") is None
    pytest.importorskip("gguf")
    from sagert.models.embedded import embedded_gguf_path

    assert count_parameters(embedded_gguf_path()) == SMOLLM2_135M
