"""A GGUF model (such as the embedded SmolLM2) as a plain transformers folder TRL can train.

transformers loads a GGUF by de-quantizing it to fp32 but keeps it marked as quantized, so
TRL refuses to train it and `save_pretrained` refuses to write it. The weights are ordinary
fp32 tensors by then: clearing the marks makes it an ordinary model, saved as safetensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sagert.core.errors import UserError


def gguf_to_folder(gguf: Path, folder: Path) -> Path:
    """Write `folder` (config, safetensors, tokenizer) once; later calls reuse it."""
    if (folder / "config.json").is_file():
        return folder
    try:
        import transformers
    except ImportError:
        raise UserError("training needs transformers", fix="pip install 'sagert[train]'") from None
    model: Any = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name
    )
    tokenizer: Any = transformers.AutoTokenizer.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name
    )
    _clear_quantization(model)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def _clear_quantization(model: Any) -> None:
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
