"""`vllm`: a Hugging Face model served in this process by `vllm.LLM`, for GPU machines.

Where `openai` talks to a `vllm serve` over HTTP, this provider holds the engine itself: no
server to start, and under `executor: ray` each actor holds one engine on the GPUs Ray gave it
(`ModelSpec.gpus()`: `tensor_parallel_size` by default). Concurrent calls are gathered into
`LLM.generate` batches by the same `BatchWorker` as the transformers provider; each prompt has
its own `SamplingParams` (and its own seed), so calls with different settings share a batch and
an answer does not depend on its batch-mates. Chat messages go through the tokenizer's chat
template, so a trailing assistant message or `prefill` is continued as with transformers.

vLLM is not a dependency (`pip install vllm` on a GPU machine); it is imported when the first
call loads the engine, and its absence is one line when the provider is built.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import ModelNotInstalledError
from sagert.core.validation import validate
from sagert.models.provider import ProviderError, default_is_retryable, providers
from sagert.models.providers.batching import BatchRequest, BatchWorker
from sagert.models.providers.hf_local import prefill_of, weights_fingerprint
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message, ModelOutput, Usage

DEFAULT_MAX_TOKENS = 256


class VLLMArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(
        default=None, description="Model folder or Hub id (default: the name after 'vllm/')."
    )
    tensor_parallel_size: int = Field(default=1, ge=1, le=64, description="GPUs per engine.")
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0.0, le=1.0, description="Share of each GPU's memory vLLM may take."
    )
    max_model_len: int | None = Field(
        default=None, ge=16, description="Context length (default: the model's)."
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    enforce_eager: bool = Field(default=False, description="No CUDA graphs: starts faster.")
    trust_remote_code: bool = False
    max_batch_size: int = Field(
        default=256, ge=1, le=65_536, description="Prompts per LLM.generate()."
    )
    batch_wait_ms: float = Field(
        default=20.0, ge=0, le=10_000, description="How long a batch waits for more prompts."
    )
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="Further vllm.LLM keyword arguments."
    )


class VLLMProvider:
    # The engine cannot cancel a prompt once in a batch: a timeout is not sent again.
    default_timeout = 1800.0

    def __init__(self, name: str, path: str, args: VLLMArgs) -> None:
        self.name = name
        self.path = path
        self.args = args
        self.default_max_connections = 2 * args.max_batch_size
        self._llm: Any = None
        self._lock = threading.Lock()
        self._batches = BatchWorker(
            "vllm",
            max_batch_size=args.max_batch_size,
            batch_wait_ms=args.batch_wait_ms,
            run=self._run_batch,
        )
        self._identity: dict[str, Any] = {
            "provider": "vllm",
            "path": path,
            "weights": weights_fingerprint(path),
            "dtype": args.dtype,
        }

    def identity(self) -> dict[str, Any]:
        return self._identity

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        prefill = prefill_of(messages, config)
        chat = [{"role": m.role, "content": m.content} for m in messages]
        if chat and chat[-1]["role"] == "assistant":
            chat.pop()  # continued through the prefill

        def render(llm: Any) -> str:
            tokenizer = llm.get_tokenizer()
            text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            return str(text) + prefill

        return await self._submit(render, config, prefill)

    async def complete(self, prompt: str, config: GenerateConfig) -> ModelOutput:
        return await self._submit(lambda _llm: prompt, config, "")

    async def _submit(
        self, render: Callable[[Any], str], config: GenerateConfig, prefill: str
    ) -> ModelOutput:
        llm = self._llm
        if llm is None:  # the first call loads the engine (minutes), off the event loop
            llm = await asyncio.get_running_loop().run_in_executor(None, self._load_once)
        return await self._batches.submit(render(llm), prefill, config)

    def _load_once(self) -> Any:
        with self._lock:
            if self._llm is None:
                vllm = _import_vllm()
                a = self.args
                kwargs: dict[str, Any] = {
                    "model": self.path,
                    "tensor_parallel_size": a.tensor_parallel_size,
                    "gpu_memory_utilization": a.gpu_memory_utilization,
                    "dtype": a.dtype,
                    "enforce_eager": a.enforce_eager,
                    "trust_remote_code": a.trust_remote_code,
                    **a.engine_args,
                }
                if a.max_model_len is not None:
                    kwargs["max_model_len"] = a.max_model_len
                try:
                    self._llm = vllm.LLM(**kwargs)
                except (OSError, ValueError) as exc:
                    first = str(exc).splitlines()[0] if str(exc) else repr(exc)
                    raise ProviderError(
                        f"cannot load {self.path!r}: {first}", retryable=False
                    ) from None
            return self._llm

    def _run_batch(self, batch: list[BatchRequest]) -> list[ModelOutput]:
        llm = self._load_once()
        vllm = _import_vllm()
        params = [sampling_params(vllm, r.config) for r in batch]
        results = llm.generate([r.text for r in batch], params, use_tqdm=False)
        return [to_output(res, r, self.name) for res, r in zip(results, batch, strict=True)]

    def is_retryable(self, exc: BaseException) -> bool:
        return not isinstance(exc, TimeoutError) and default_is_retryable(exc)

    async def aclose(self) -> None:
        self._batches.close()
        self._llm = None


def sampling_params(vllm: Any, config: GenerateConfig) -> Any:
    """A GenerateConfig as vLLM's SamplingParams; unset temperature is greedy (as transformers)."""
    kwargs: dict[str, Any] = {
        "temperature": config.temperature or 0.0,
        "top_p": config.top_p or 1.0,
        "max_tokens": config.max_tokens or DEFAULT_MAX_TOKENS,
        "seed": config.seed,
    }
    if config.stop:
        kwargs["stop"] = list(config.stop)
    if config.json_schema is not None:
        kwargs.update(_structured(vllm, config.json_schema))
    return vllm.SamplingParams(**kwargs)


def _structured(vllm: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """JSON-constrained decoding under the name this vLLM has (none: the parse checks it)."""
    module = importlib.import_module("vllm.sampling_params")
    if hasattr(module, "StructuredOutputsParams"):
        return {"structured_outputs": module.StructuredOutputsParams(json=schema)}
    if hasattr(module, "GuidedDecodingParams"):
        return {"guided_decoding": module.GuidedDecodingParams(json=schema)}
    return {}


def to_output(result: Any, request: BatchRequest, name: str) -> ModelOutput:
    """One vLLM RequestOutput as a ModelOutput (the prefill put back in front)."""
    completion = result.outputs[0]
    return ModelOutput(
        text=request.prefill + str(completion.text),
        finish_reason=completion.finish_reason or "stop",
        model=name,
        usage=Usage(
            prompt_tokens=len(result.prompt_token_ids or ()),
            completion_tokens=len(completion.token_ids or ()),
        ),
    )


def _import_vllm() -> Any:
    try:
        return importlib.import_module("vllm")
    except ImportError:
        raise _missing() from None


def _missing() -> ModelNotInstalledError:
    return ModelNotInstalledError(
        "the vllm provider needs vLLM, which is not installed",
        field="model",
        fix="pip install vllm (on a machine with a CUDA GPU), or use the transformers provider",
    )


@providers.register("vllm", "A Hugging Face model in process on vLLM (GPU, batched).")
def make_vllm(spec: ModelSpec) -> VLLMProvider:
    if importlib.util.find_spec("vllm") is None:
        raise _missing()
    args = validate(VLLMArgs, spec.args, prefix="args")
    path = args.path or spec.model_name
    local = Path(path).expanduser()
    return VLLMProvider(spec.model, str(local) if local.is_dir() else path, args)
