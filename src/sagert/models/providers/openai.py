"""`openai`: any OpenAI-compatible server (vLLM, llama.cpp, Ollama, TGI, OpenAI itself).

aiohttp rather than the official SDK: on 2 cores the SDK cost about 4.6 ms of client CPU per
request and reached 20% of ideal throughput at C=256; aiohttp is several times cheaper
(benchmarks/throughput.py, docs/performance.md).
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import ConfigError, UserError
from sagert.core.validation import validate
from sagert.models.provider import ModelProvider, ProviderError, default_is_retryable, providers
from sagert.models.providers.openai_body import JsonMode, chat_body, completion_body
from sagert.models.providers.routed import RoutedProvider
from sagert.models.spec import Endpoint, ModelSpec
from sagert.models.types import GenerateConfig, Message, ModelOutput, Usage

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    json_mode: JsonMode = Field(
        default="json_schema",
        description="How to ask for JSON: response_format json_schema, json_object, or not at all.",
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Merged into every request body (e.g. vLLM's continue_final_message).",
    )
    headers: dict[str, str] = Field(default_factory=dict)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIProvider:
    default_max_connections = 64
    default_timeout = 120.0

    def __init__(
        self,
        name: str,
        model: str,
        base_url: str,
        *,
        api_key_env: str | None = None,
        timeout: float = 120.0,
        args: OpenAIArgs | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.args = args or OpenAIArgs()
        self._session: aiohttp.ClientSession | None = None

    def identity(self) -> dict[str, Any]:
        return {"provider": "openai", "model": self.model, "base_url": self.base_url}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.args.headers}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise UserError(
                    f"environment variable {self.api_key_env} is not set",
                    field=f"{self.name}: api_key_env",
                    fix=f"export {self.api_key_env}=<your key>",
                )
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self._headers(),
            )
        return self._session

    def request_body(self, messages: list[Message], config: GenerateConfig) -> dict[str, Any]:
        body = {"model": self.model, **chat_body(messages, config, self.args.json_mode)}
        body.update(self.args.extra_body)
        return body

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        text = await self._post("chat/completions", self.request_body(messages, config))
        return self._parse(text, config)

    async def _post(self, endpoint: str, body: dict[str, Any]) -> str:
        """The response text of a 200; a ProviderError (retryable or not) otherwise."""
        session = self._session_now()
        url = f"{self.base_url}/{endpoint}"
        try:
            async with session.post(url, json=body) as resp:
                payload = await resp.read()
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except aiohttp.ClientError as exc:
            raise ProviderError(f"connection error: {exc}", retryable=True) from exc
        text = payload.decode("utf-8", errors="replace")
        if status != 200:
            raise ProviderError(
                f"HTTP {status}: {text[:200]}",
                retryable=status in RETRYABLE_STATUS,
                status=status,
                retry_after=retry_after,
                raw=text,
            )
        return text

    async def complete(self, prompt: str, config: GenerateConfig) -> ModelOutput:
        """POST /completions: the prompt is sent as written, no chat template applied."""
        body = {"model": self.model, **completion_body(prompt, config), **self.args.extra_body}
        text = await self._post("completions", body)
        try:
            data = json.loads(text)
            choice = data["choices"][0]
            content = choice.get("text") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(
                f"malformed response body: {type(exc).__name__}", retryable=True, raw=text
            ) from exc
        return self._output(data, choice, content)

    def _parse(self, text: str, config: GenerateConfig) -> ModelOutput:
        try:
            data = json.loads(text)
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(
                f"malformed response body: {type(exc).__name__}", retryable=True, raw=text
            ) from exc
        if config.prefill and not content.startswith(config.prefill):
            content = config.prefill + content
        return self._output(data, choice, content)

    def _output(self, data: dict[str, Any], choice: dict[str, Any], content: str) -> ModelOutput:
        usage = data.get("usage") or {}
        return ModelOutput(
            text=content,
            finish_reason=choice.get("finish_reason"),
            model=str(data.get("model") or self.model),
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            ),
        )

    def is_retryable(self, exc: BaseException) -> bool:
        return default_is_retryable(exc)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


@providers.register("openai", "Any OpenAI-compatible HTTP server (base_url, api_key_env).")
def make_openai(spec: ModelSpec) -> OpenAIProvider | RoutedProvider:
    args = validate(OpenAIArgs, spec.args, prefix="args")
    timeout = spec.timeout or OpenAIProvider.default_timeout
    fleet = spec.fleet()
    if fleet is not None:
        return make_fleet(spec, fleet, args, timeout)
    base_url = spec.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        raise ConfigError(
            "the openai provider needs a server URL",
            field="base_url",
            fix="set base_url, e.g. http://127.0.0.1:8000/v1",
        )
    assert isinstance(base_url, str)
    return OpenAIProvider(
        spec.model,
        spec.model_name,
        base_url,
        api_key_env=spec.api_key_env,
        timeout=timeout,
        args=args,
    )


def make_fleet(
    spec: ModelSpec, fleet: list[Endpoint], args: OpenAIArgs, timeout: float
) -> RoutedProvider:
    """One OpenAIProvider per endpoint behind a router; the role's max_connections caps the
    whole fleet (Model's limit) and is each endpoint's default limit."""
    default_limit = spec.max_connections or OpenAIProvider.default_max_connections
    members: list[tuple[str, ModelProvider, float, int]] = [
        (
            e.base_url,
            OpenAIProvider(
                spec.model,
                spec.model_name,
                e.base_url,
                api_key_env=spec.api_key_env,
                timeout=timeout,
                args=args,
            ),
            e.weight,
            e.max_connections or default_limit,
        )
        for e in fleet
    ]
    identity = {"provider": "openai", "model": spec.model_name, "fleet": True}
    return RoutedProvider(
        spec.model, members, identity, policy=spec.routing, attempt_timeout=timeout
    )
