"""A trained transformers folder back into a GGUF, so llama.cpp can evaluate it fast.

The base GGUF gives everything but the weights: metadata, tokenizer, chat template, tensor
names and order. Each of its tensors is replaced by the folder's tensor of the same role
(gguf's name map), after the Q/K row permutation that HF -> GGUF conversion applies to llama
attention (transformers undid it when it loaded the GGUF; it is redone here exactly).

Tensor types: `f16` (the default) writes matrices as f16 and vectors as f32. Requantizing to
the base's type (`base`, e.g. Q4_1) would round most of a preference training's small weight
changes away; it exists for the round-trip check (base -> folder -> base type is bit-exact).
Only the llama architecture is supported: `convertible` says whether a folder is. A LoRA
adapter folder is merged into its base first (beside it, `<name>-merged/`), so the GGUF holds
the trained weights, not the base's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from sagert.core.errors import UserError
from sagert.training.lora import adapter_base, is_adapter, merge_adapter

TensorTypes = Literal["f16", "f32", "base"]
ARCHITECTURE = "llama"


def convertible(hf_folder: Path, base_gguf: Path) -> str | None:
    """None when `folder_to_gguf` can convert the folder, else why not (one line)."""
    try:
        import gguf  # noqa: F401
        import safetensors  # noqa: F401
    except ImportError:
        return "the gguf package is not installed (pip install 'sagert[train]')"
    if not base_gguf.is_file():
        return f"no base GGUF at {base_gguf}"
    if is_adapter(hf_folder):
        base = adapter_base(hf_folder)
        if base is None or not Path(base).is_dir():
            return f"the LoRA adapter's base model {base!r} is not a local folder"
        try:
            import peft  # noqa: F401
        except ImportError:
            return "a LoRA adapter needs peft to merge (pip install 'sagert[train]')"
        hf_folder = Path(base)  # the merged model has the base's architecture and tensors
    if not _weight_files(hf_folder):
        return f"{hf_folder} has no full safetensors weights (a LoRA adapter?)"
    try:
        model_type = json.loads((hf_folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{hf_folder} has no readable config.json"
    if model_type.get("model_type") != ARCHITECTURE:
        return f"architecture {model_type.get('model_type')!r} (only llama is converted)"
    if _base_architecture(base_gguf) != ARCHITECTURE:
        return f"base GGUF architecture {_base_architecture(base_gguf)!r} (only llama)"
    return None


def folder_to_gguf(
    hf_folder: Path, base_gguf: Path, out_path: Path, types: TensorTypes = "f16"
) -> Path:
    """Write `out_path`: the base GGUF's metadata with the folder's weights (atomically)."""
    import gguf

    problem = convertible(hf_folder, base_gguf)
    if problem:
        raise UserError(f"cannot write a GGUF: {problem}", file=hf_folder)
    if is_adapter(hf_folder):
        hf_folder = merge_adapter(hf_folder, hf_folder.with_name(hf_folder.name + "-merged"))
    reader = gguf.GGUFReader(base_gguf)
    n_head, n_kv = _head_counts(reader)
    weights = _load_weights(hf_folder)
    names = gguf.TensorNameMap(gguf.MODEL_ARCH.LLAMA, _block_count(reader))
    by_gguf: dict[str, Any] = {}
    for hf_name, array in weights.items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UserError(f"no GGUF name for tensor {hf_name!r}", file=hf_folder)
        by_gguf[name] = array
    tmp = out_path.with_name(out_path.name + ".tmp")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(tmp, ARCHITECTURE)
    _copy_metadata(reader, writer, types)
    for tensor in reader.tensors:
        array = by_gguf.pop(tensor.name, None)
        if array is None:
            raise UserError(f"the folder has no tensor for {tensor.name}", file=hf_folder)
        if ".attn_q." in tensor.name:
            array = permute(array, n_head, n_head)
        elif ".attn_k." in tensor.name:
            array = permute(array, n_head, n_kv)
        expected = tuple(int(d) for d in reversed(tensor.shape))
        if array.shape != expected:
            raise UserError(
                f"tensor {tensor.name}: shape {array.shape}, the base has {expected}",
                file=hf_folder,
                fix="convert against the GGUF the model was trained from",
            )
        _add_tensor(writer, tensor.name, array, _target_type(tensor, array, types))
    by_gguf.pop("output.weight", None)  # tied to token_embd in the base: nothing to write
    if by_gguf:
        raise UserError(f"tensors the base GGUF lacks: {sorted(by_gguf)[:3]}", file=hf_folder)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out_path)
    return out_path


def permute(weights: Any, n_head: int, n_head_kv: int) -> Any:
    """llama.cpp's convert_hf_to_gguf permutation of q/k rows (the inverse of transformers')."""
    if n_head != n_head_kv:
        n_head = n_head_kv
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _weight_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors")) if folder.is_dir() else []


def _load_weights(folder: Path) -> dict[str, Any]:
    import numpy as np
    from safetensors.numpy import load_file

    out: dict[str, Any] = {}
    for f in _weight_files(folder):
        for name, array in load_file(str(f)).items():
            out[name] = np.asarray(array, dtype=np.float32)
    return out


def _base_architecture(base_gguf: Path) -> str | None:
    import gguf

    field = gguf.GGUFReader(base_gguf).get_field(gguf.Keys.General.ARCHITECTURE)
    return str(field.contents()) if field is not None else None


def _field(reader: Any, key: str) -> Any:
    field = reader.get_field(key.format(arch=ARCHITECTURE))
    return field.contents() if field is not None else None


def _head_counts(reader: Any) -> tuple[int, int]:
    n_head = int(_field(reader, "{arch}.attention.head_count"))
    n_kv = _field(reader, "{arch}.attention.head_count_kv")
    return n_head, int(n_kv) if n_kv is not None else n_head


def _block_count(reader: Any) -> int:
    return int(_field(reader, "{arch}.block_count"))


def _copy_metadata(reader: Any, writer: Any, types: TensorTypes) -> None:
    import gguf

    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by GGUFWriter itself
        value = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE and types != "base":
            ftype = gguf.LlamaFileType.MOSTLY_F16 if types == "f16" else gguf.LlamaFileType.ALL_F32
            value = int(ftype)
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, vtype, sub_type=sub)


def _target_type(tensor: Any, array: Any, types: TensorTypes) -> Any:
    import gguf

    qtype = gguf.GGMLQuantizationType
    if array.ndim == 1 or types == "f32":
        return qtype.F32
    if types == "f16":
        return qtype.F16
    return tensor.tensor_type


def _add_tensor(writer: Any, name: str, array: Any, qtype: Any) -> None:
    import gguf

    try:
        data = gguf.quants.quantize(array, qtype)
    except (NotImplementedError, gguf.quants.QuantError):
        qtype = gguf.GGMLQuantizationType.F16
        data = gguf.quants.quantize(array, qtype)
    writer.add_tensor(name, data, raw_dtype=qtype)  # the writer derives a quantized shape
