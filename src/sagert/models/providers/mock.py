"""`mock`: a real provider whose outputs are scripted, so every prompt and parse is testable."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Sequence
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import ConfigError
from sagert.core.validation import validate
from sagert.models.provider import ProviderError, default_is_retryable, providers
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message, ModelOutput, Usage


class MockFault(BaseModel):
    """A scripted failure: raised instead of answering."""

    model_config = ConfigDict(extra="forbid")

    error: str
    retryable: bool = True
    retry_after: float | None = None
    status: int | None = Field(default=None, description="e.g. 429 for a rate limit")


ScriptItem = str | ModelOutput | MockFault
Script = Sequence[ScriptItem] | Callable[[list[Message], GenerateConfig], ScriptItem]


class MockArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outputs: list[str | MockFault] = Field(default_factory=list)
    default: str | None = Field(
        default=None, description="Answer once `outputs` is used up; unset: echo the last message."
    )
    delay: float = Field(default=0.0, ge=0.0, description="Seconds each call takes.")
    responder: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:function answering (messages, config) -> str, for scripted runs.",
    )


class MockProvider:
    """Answers from a list (in order) or a function of the messages; records what it was sent."""

    default_max_connections = 64
    default_timeout = 120.0

    def __init__(
        self,
        name: str = "mock/scripted",
        script: Script | None = None,
        *,
        default: str | None = None,
        delay: float = 0.0,
    ) -> None:
        self.name = name
        self._script = script if script is not None else []
        self._next = 0
        self.default = default
        self.delay = delay
        self.received: list[tuple[list[Message], GenerateConfig]] = []

    def identity(self) -> dict[str, Any]:
        return {"provider": "mock", "name": self.name}

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        self.received.append((messages, config))
        if self.delay:
            await asyncio.sleep(self.delay)
        item = self._next_item(messages, config)
        if isinstance(item, MockFault):
            raise ProviderError(
                item.error,
                retryable=item.retryable,
                retry_after=item.retry_after,
                status=item.status,
                raw=item.error,
            )
        if isinstance(item, ModelOutput):
            return item
        text = item
        if config.prefill and not text.startswith(config.prefill):
            text = config.prefill + text
        words = sum(len(m.content.split()) for m in messages)
        return ModelOutput(
            text=text,
            finish_reason="stop",
            model=self.name,
            usage=Usage(prompt_tokens=words, completion_tokens=len(text.split())),
        )

    async def complete(self, prompt: str, config: GenerateConfig) -> ModelOutput:
        """Completion calls are scripted like chat calls (the prompt as one user message)."""
        return await self.generate([Message(role="user", content=prompt)], config)

    def _next_item(self, messages: list[Message], config: GenerateConfig) -> ScriptItem:
        if callable(self._script):
            return self._script(messages, config)
        if self._next < len(self._script):
            item = self._script[self._next]
            self._next += 1
            return item
        if self.default is not None:
            return self.default
        return messages[-1].content if messages else ""

    def is_retryable(self, exc: BaseException) -> bool:
        return default_is_retryable(exc)

    async def aclose(self) -> None:
        return None


@providers.register("mock", "Scripted outputs for tests and dry runs (args: outputs, default).")
def make_mock(spec: ModelSpec) -> MockProvider:
    args = validate(MockArgs, spec.args, prefix="args")
    script: Script = list(args.outputs)
    if args.responder:
        script = _import_responder(args.responder)
    return MockProvider(spec.model, script, default=args.default, delay=args.delay)


def _import_responder(target: str) -> Callable[[list[Message], GenerateConfig], ScriptItem]:
    module_name, _, attr = target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"cannot import {target}: {exc}",
            field="args.responder",
            fix="give module:function importable from the working directory or PYTHONPATH",
        ) from None
    if not callable(function):
        raise ConfigError(
            f"{target} is not callable",
            field="args.responder",
            fix="name a function (messages, config) -> str",
        )
    return cast(Callable[[list[Message], GenerateConfig], ScriptItem], function)
