"""What a backend implements, and the errors it raises, so the Model wrapper can retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from sagert.core.registry import Registry
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message, ModelOutput


class ProviderError(Exception):
    """A failed call; `retryable` and `retry_after` drive the Model wrapper's retries."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        raw: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.raw = raw


@runtime_checkable
class ModelProvider(Protocol):
    """The only thing a backend implements (inspect_ai's ModelAPI split)."""

    name: str
    """`provider/model`, as written in configs."""

    default_max_connections: int
    default_timeout: float
    """Seconds per attempt when the config sets none."""

    def identity(self) -> dict[str, Any]:
        """What makes two providers answer the same way: part of the cache key."""
        ...

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput: ...

    async def complete(self, prompt: str, config: GenerateConfig) -> ModelOutput:
        """Raw text completion (no chat template): for judges trained on a fixed prompt."""
        ...

    def is_retryable(self, exc: BaseException) -> bool: ...

    async def aclose(self) -> None: ...


def default_is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ProviderError):
        return exc.retryable
    return isinstance(exc, TimeoutError | ConnectionError)


ProviderFactory = Callable[[ModelSpec], ModelProvider]
"""A model spec (from the config) -> a provider; raises UserError on bad args."""

providers: Registry[ProviderFactory] = Registry("provider")
