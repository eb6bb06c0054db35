"""A base model's parameter count, read from its files without loading its weights.

The recipe's size class needs it before training starts. In order of exactness: a GGUF's tensor
shapes (gguf memory-maps the file and reads only the tensor index), safetensors headers (the
JSON index at the top of each file), else an estimate from config.json for decoder-only
transformers with llama-like blocks. None when none of them is there (a Hub id not yet fetched).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

TIED_HEADS = ("lm_head.weight",)


def count_parameters(model: Path) -> int | None:
    if model.suffix == ".gguf" and model.is_file():
        return gguf_parameters(model)
    if not model.is_dir():
        return None
    counted = safetensors_parameters(model)
    if counted is not None:
        return counted
    try:
        config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config_parameters(config)


def gguf_parameters(path: Path) -> int | None:
    try:
        import gguf
    except ImportError:
        return None
    reader = gguf.GGUFReader(path)
    return sum(int(math.prod(int(d) for d in t.shape)) for t in reader.tensors) or None


def safetensors_parameters(folder: Path) -> int | None:
    """Elements of every tensor in the folder's safetensors headers (a tied head counted once)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    shapes: dict[str, list[int]] = {}
    for f in files:
        shapes.update(_header_shapes(f))
    if _tied(folder):
        for name in TIED_HEADS:
            shapes.pop(name, None)
    return sum(math.prod(shape) for shape in shapes.values()) or None


def config_parameters(config: dict[str, Any]) -> int | None:
    """Embeddings + layers (attention with grouped KV heads, gated MLP, 2 norms) + head."""
    text = config.get("text_config", config)
    try:
        hidden = int(text["hidden_size"])
        layers = int(text["num_hidden_layers"])
        vocab = int(text["vocab_size"])
        inter = int(text.get("intermediate_size", 4 * hidden))
        heads = int(text.get("num_attention_heads", 1))
        kv = int(text.get("num_key_value_heads") or heads)
    except (KeyError, TypeError, ValueError):
        return None
    head_dim = int(text.get("head_dim") or hidden // heads)
    attention = hidden * heads * head_dim * 2 + hidden * kv * head_dim * 2
    block = attention + 3 * hidden * inter + 2 * hidden
    tied = bool(text.get("tie_word_embeddings", config.get("tie_word_embeddings", False)))
    return vocab * hidden * (1 if tied else 2) + layers * block + hidden


def _header_shapes(path: Path) -> dict[str, list[int]]:
    with path.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    return {k: [int(d) for d in v["shape"]] for k, v in header.items() if k != "__metadata__"}


def _tied(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(config.get("tie_word_embeddings", False))
