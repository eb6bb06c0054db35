"""LoRA through peft: the adapter's config, and an adapter merged back into full weights.

llama.cpp and the `transformers` provider read full models, so an adapter is merged into its
base before anything evaluates it (the trainer merges in memory; `merge_adapter` does it for an
adapter folder on disk, such as `train/<method>/adapter`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.settings.train import LoraSettings

ADAPTER_CONFIG = "adapter_config.json"


def _peft() -> Any:
    try:
        import peft
    except ImportError:
        raise UserError("LoRA needs peft", fix="pip install 'sagert[train]'") from None
    return peft


def lora_config(settings: LoraSettings | None) -> Any:
    """peft's LoraConfig for TRL's `peft_config` (None: full fine-tuning)."""
    if settings is None:
        return None
    return _peft().LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )


def is_adapter(folder: Path) -> bool:
    return (folder / ADAPTER_CONFIG).is_file() and not any(folder.glob("model*.safetensors"))


def adapter_base(folder: Path) -> str | None:
    """The base model an adapter was trained on (its adapter_config.json), if readable."""
    try:
        data = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = data.get("base_model_name_or_path")
    return str(base) if base else None


def merge_adapter(adapter: Path, out: Path) -> Path:
    """Write `out` (config, safetensors, tokenizer): the adapter merged into its base, once."""
    if (out / "config.json").is_file():
        return out
    peft = _peft()
    import transformers

    base = adapter_base(adapter)
    if base is None or not Path(base).exists():
        raise UserError(
            f"the adapter's base model {base!r} is not on this machine",
            file=adapter / ADAPTER_CONFIG,
            fix="set base_model_name_or_path to the folder it was trained from",
        )
    model = peft.AutoPeftModelForCausalLM.from_pretrained(str(adapter)).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    source = adapter if (adapter / "tokenizer_config.json").is_file() else Path(base)
    transformers.AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(out))
    return out
