"""`transformers`: a Hugging Face model folder (such as one `sagert train` wrote) in process.

It exists so a trained model can be evaluated where it was trained, offline, on CPU or GPU,
with the same engine for the model before and after training. Concurrent calls are gathered
into batches by one worker thread (`batching.BatchWorker`; left-padded `generate`); calls that
differ in sampling settings go in different batches. With temperature > 0 an answer depends on
its batch-mates (one seed per batch), so use temperature 0 where runs must repeat exactly; the
response cache keeps resumed runs stable either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import ConfigError, ModelNotInstalledError
from sagert.core.validation import validate
from sagert.models.provider import ProviderError, default_is_retryable, providers
from sagert.models.providers.batching import BatchRequest, BatchWorker, select_batch
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message, ModelOutput, Usage

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")
# transformers builds a model on the meta device by patching torch globally while it loads, so
# two models loading at once in two threads break each other ("Cannot copy out of meta
# tensor"): loads are serialised process-wide.
_LOAD_LOCK = threading.Lock()
# torch already uses every core for one generate(); two models generating at once on the CPU
# (the base and the trained model of `sagert align`) only oversubscribe the cores.
_CPU_LOCK = threading.Lock()


class TransformersArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(
        default=None,
        description="Model folder or Hub id (default: the name after 'transformers/').",
    )
    device: str = Field(
        default="auto", description="auto (cuda when present), cpu, cuda, cuda:1..."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="auto: bfloat16 on a GPU, float32 on CPU."
    )
    max_batch_size: int = Field(default=16, ge=1, le=1024, description="Prompts per generate().")
    max_batch_tokens: int = Field(
        default=4096,
        ge=1,
        description="Padded prompt tokens per batch: prompts of like length go together.",
    )
    batch_wait_ms: float = Field(
        default=20.0, ge=0, le=10_000, description="How long a batch waits for more prompts."
    )
    threads: int | None = Field(default=None, ge=1, description="torch CPU threads.")


# The request type and the batch choice, shared with the vllm provider (older imports: _Request).
_Request = BatchRequest


class TransformersProvider:
    # Batched generation on CPU is slow per call; a retry would only queue the same work again.
    default_timeout = 1800.0

    def __init__(self, name: str, path: str, args: TransformersArgs) -> None:
        self.name = name
        self.path = path
        self.args = args
        self.default_max_connections = 2 * args.max_batch_size
        self._batches = BatchWorker(
            "transformers",
            max_batch_size=args.max_batch_size,
            batch_wait_ms=args.batch_wait_ms,
            run=self._run_batch,
            select=lambda w: select_batch(w, args.max_batch_size, args.max_batch_tokens),
            prepare=self._tokenize,
        )
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, str] | None = None  # model, tokenizer, device
        self._identity = {"provider": "transformers", "path": path}
        self._identity["weights"] = weights_fingerprint(path)

    def identity(self) -> dict[str, Any]:
        return self._identity

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        prefill = prefill_of(messages, config)
        chat = [{"role": m.role, "content": m.content} for m in messages]
        if chat and chat[-1]["role"] == "assistant":
            chat.pop()  # continued through the prefill

        def render(tokenizer: Any) -> str:
            text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            return str(text) + prefill

        return await self._submit(render, config, prefill)

    async def complete(self, prompt: str, config: GenerateConfig) -> ModelOutput:
        return await self._submit(lambda _tok: prompt, config, "")

    async def _submit(
        self, render: Callable[[Any], str], config: GenerateConfig, prefill: str
    ) -> ModelOutput:
        loaded = self._loaded
        if loaded is None:  # first call (or after aclose): load in a thread
            loaded = await asyncio.get_running_loop().run_in_executor(None, self._load_once)
        return await self._batches.submit(render(loaded[1]), prefill, config)

    def _load_once(self) -> tuple[Any, Any, str]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> tuple[Any, Any, str]:
        _require_packages()
        import torch
        import transformers

        if self.args.threads:
            torch.set_num_threads(self.args.threads)
        device = self.args.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = self.args.dtype
        if dtype_name == "auto":
            dtype_name = "float32" if device == "cpu" else "bfloat16"
        try:
            with _LOAD_LOCK:
                tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    self.path, dtype=getattr(torch, dtype_name)
                )
                model.to(device).eval()
        except OSError as exc:
            raise ProviderError(
                f"cannot load {self.path!r}: {str(exc).splitlines()[0]}", retryable=False
            ) from None
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return model, tokenizer, device

    def _tokenize(self, waiting: list[BatchRequest]) -> None:
        tokenizer = self._load_once()[1]
        for r in waiting:
            if r.ids is None:
                r.ids = list(tokenizer(r.text, add_special_tokens=False)["input_ids"])

    def _run_batch(self, batch: list[BatchRequest]) -> list[ModelOutput]:
        loaded = self._load_once()
        with _CPU_LOCK if loaded[2] == "cpu" else contextlib.nullcontext():
            return generate_batch(loaded, batch, self.name)

    def is_retryable(self, exc: BaseException) -> bool:
        return not isinstance(exc, TimeoutError) and default_is_retryable(exc)

    async def aclose(self) -> None:
        self._batches.close()
        self._loaded = None


def prefill_of(messages: list[Message], config: GenerateConfig) -> str:
    """What the answer starts with: a trailing assistant message and/or the config's prefill."""
    head = messages[-1].content if messages and messages[-1].role == "assistant" else ""
    return head + (config.prefill or "")


def generate_batch(
    loaded: tuple[Any, Any, str], batch: list[BatchRequest], name: str
) -> list[ModelOutput]:
    """One left-padded generate() for requests that share sampling settings."""
    import torch

    model, tokenizer, device = loaded
    config = batch[0].config
    enc = tokenizer.pad({"input_ids": [r.ids for r in batch]}, padding=True, return_tensors="pt")
    enc = {k: v.to(device) for k, v in enc.items()}
    max_new = config.max_tokens or 256
    sampling = bool(config.temperature)
    kwargs: dict[str, Any] = {"max_new_tokens": max_new, "do_sample": sampling}
    if sampling:
        kwargs["temperature"] = config.temperature
        kwargs["top_p"] = config.top_p or 1.0
    if config.stop:
        kwargs.update(stop_strings=list(config.stop), tokenizer=tokenizer)
    torch.manual_seed(config.seed or 0)
    with torch.inference_mode():
        out = model.generate(**enc, **kwargs, pad_token_id=tokenizer.pad_token_id)
    width = enc["input_ids"].shape[1]
    prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
    eos = _eos_ids(model, tokenizer)
    return [
        _output(out[i, width:].tolist(), int(prompt_tokens[i]), r, tokenizer, eos, name)
        for i, r in enumerate(batch)
    ]


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = model.generation_config.eos_token_id
    found = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found


def _output(
    tokens: list[int],
    prompt_tokens: int,
    request: BatchRequest,
    tokenizer: Any,
    eos: set[int],
    name: str,
) -> ModelOutput:
    end = next((i for i, t in enumerate(tokens) if t in eos), None)
    generated = tokens if end is None else tokens[:end]
    text = tokenizer.decode(generated, skip_special_tokens=True)
    finish = "stop" if end is not None else "length"
    for stop in request.config.stop or ():
        if stop in text:
            text, finish = text[: text.index(stop)], "stop"
    return ModelOutput(
        text=request.prefill + text,
        finish_reason=finish,
        model=name,
        usage=Usage(
            prompt_tokens=prompt_tokens, completion_tokens=len(generated) + (end is not None)
        ),
    )


def weights_fingerprint(path: str) -> str:
    """Names, sizes and times of a folder's weight and config files: retraining changes it."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return "hub"
    digest = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix in WEIGHT_SUFFIXES:
            st = f.stat()
            digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def _require_packages() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise ModelNotInstalledError(
            "the transformers provider needs torch and transformers",
            fix="pip install 'sagert[train]' (a CPU build of torch first: see README)",
        ) from None


def _looks_like_path(name: str) -> bool:
    """A Hub id is `org/name`; anything else with a slash, or that exists, is a folder."""
    return (
        name.startswith((".", "/", "~"))
        or name.count("/") > 1
        or "\\" in name
        or Path(name).expanduser().exists()
    )


@providers.register("transformers", "A Hugging Face model folder in process (CPU or GPU, batched).")
def make_transformers(spec: ModelSpec) -> TransformersProvider:
    args = validate(TransformersArgs, spec.args, prefix="args")
    path = args.path or spec.model_name
    if _looks_like_path(path) and not Path(path).expanduser().is_dir():
        raise ConfigError(
            f"model folder {path} does not exist",
            field="args.path" if args.path else "model",
            fix="give a folder with config.json (e.g. runs/<name>/train/simpo/final) or a Hub id",
        )
    return TransformersProvider(
        spec.model, str(Path(path).expanduser()) if _looks_like_path(path) else path, args
    )
