"""`llamacpp`: a GGUF model in process on CPU through the prebuilt xllamacpp wheel.

Concurrent calls share one engine and use its parallel slots (continuous batching);
each call runs in a worker thread because xllamacpp blocks while it releases the GIL.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import ConfigError, ModelNotInstalledError
from sagert.core.validation import validate
from sagert.models.embedded import ALIASES, verified_embedded_gguf
from sagert.models.provider import ProviderError, default_is_retryable, providers
from sagert.models.providers.openai_body import chat_body, completion_body
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message, ModelOutput, Usage


class LlamaCppArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gguf: str | None = Field(default=None, description="Path to a GGUF file (default: embedded).")
    n_parallel: int = Field(default=8, ge=1, le=256, description="Engine slots.")
    n_ctx_per_slot: int = Field(default=2048, ge=256, description="Context tokens per slot.")
    n_threads: int | None = Field(default=None, ge=1, description="CPU threads (default: all).")
    n_gpu_layers: int = Field(default=0, ge=0)


class LlamaCppProvider:
    # A timed-out request keeps running inside the engine (no cancel for a blocking call), so
    # a retry would only add load: the timeout is long, and timeouts are not retried.
    default_timeout = 900.0

    def __init__(self, name: str, gguf: Path | None, args: LlamaCppArgs) -> None:
        self.name = name
        self._gguf = gguf
        self.args = args
        self.default_max_connections = args.n_parallel
        self._server: Any = None
        self._pool = ThreadPoolExecutor(max_workers=args.n_parallel, thread_name_prefix="llamacpp")
        self._lock = threading.Lock()  # not asyncio's: a provider may outlive one event loop

    def identity(self) -> dict[str, Any]:
        """A GGUF given by path also names its size and time: a retrained model written to the
        same path (`sagert align`'s final.gguf) is another model. The embedded one is pinned."""
        identity = {
            "provider": "llamacpp",
            "model": self.name,
            "gguf": str(self._gguf or "embedded"),
        }
        if self._gguf is not None and self._gguf.is_file():
            st = self._gguf.stat()
            identity["weights"] = f"{st.st_size}:{st.st_mtime_ns}"
        return identity

    def _load(self) -> Any:
        try:
            import xllamacpp
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ModelNotInstalledError(
                "xllamacpp is not installed", fix="pip install xllamacpp"
            ) from exc
        path = self._gguf or verified_embedded_gguf()
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_parallel = self.args.n_parallel
        params.n_ctx = self.args.n_parallel * self.args.n_ctx_per_slot
        threads = self.args.n_threads or os.cpu_count() or 2
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.n_gpu_layers = self.args.n_gpu_layers
        params.verbosity = -1
        return xllamacpp.Server(params)

    def _load_once(self) -> Any:
        with self._lock:
            if self._server is None:
                self._server = self._load()
            return self._server

    async def _engine(self) -> Any:
        if self._server is not None:
            return self._server
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._load_once)

    async def http_base_url(self) -> str:
        """llama.cpp's own OpenAI-compatible server, started by the engine on 127.0.0.1."""
        server = await self._engine()
        return f"{str(server.listening_address).rstrip('/')}/v1"

    @staticmethod
    def request_body(messages: list[Message], config: GenerateConfig) -> dict[str, Any]:
        # llama.cpp's server continues a trailing assistant message (prefill_assistant).
        return chat_body(messages, config)

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        server = await self._engine()
        result = await asyncio.get_running_loop().run_in_executor(
            self._pool, server.handle_chat_completions, self.request_body(messages, config)
        )
        self._raise_on_error(result)
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        if config.prefill and not text.startswith(config.prefill):
            text = config.prefill + text
        return self._output(result, choice, text)

    async def complete(self, prompt: str, config: GenerateConfig) -> ModelOutput:
        """Raw completion: the prompt is tokenized as written (special tokens parsed)."""
        server = await self._engine()
        result = await asyncio.get_running_loop().run_in_executor(
            self._pool, server.handle_completions, completion_body(prompt, config)
        )
        self._raise_on_error(result)
        choice = result["choices"][0]
        return self._output(result, choice, choice.get("text") or "")

    @staticmethod
    def _raise_on_error(result: Any) -> None:
        if not isinstance(result, dict) or "error" in result:
            error = result.get("error", {}) if isinstance(result, dict) else {}
            code = error.get("code") if isinstance(error, dict) else None
            raise ProviderError(
                f"llama.cpp: {error.get('message', result) if isinstance(error, dict) else error}",
                retryable=not (isinstance(code, int) and 400 <= code < 500),
                status=code if isinstance(code, int) else None,
                raw=str(result),
            )

    def _output(self, result: dict[str, Any], choice: dict[str, Any], text: str) -> ModelOutput:
        usage = result.get("usage", {})
        return ModelOutput(
            text=text,
            finish_reason=choice.get("finish_reason"),
            model=self.name,
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            ),
        )

    def is_retryable(self, exc: BaseException) -> bool:
        return not isinstance(exc, TimeoutError) and default_is_retryable(exc)

    async def aclose(self) -> None:
        self._server = None  # the engine stops when its last reference goes
        self._pool.shutdown(wait=False)


@providers.register("llamacpp", "A GGUF model in process (default: embedded SmolLM2-135M).")
def make_llamacpp(spec: ModelSpec) -> LlamaCppProvider:
    args = validate(LlamaCppArgs, spec.args, prefix="args")
    gguf: Path | None = None
    if args.gguf:
        gguf = Path(args.gguf).expanduser()
    elif spec.model_name.endswith(".gguf"):
        gguf = Path(spec.model_name).expanduser()
    elif spec.model_name.lower() not in ALIASES:
        raise ConfigError(
            f"unknown llamacpp model {spec.model_name!r}",
            field="model",
            fix="use llamacpp/smollm2 (embedded) or give args.gguf: /path/to/model.gguf",
        )
    if gguf is not None and not gguf.is_file():
        raise ConfigError(
            f"GGUF file {gguf} does not exist", field="args.gguf", fix="give an existing path"
        )
    return LlamaCppProvider(spec.model, gguf, args)
