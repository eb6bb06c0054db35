"""The data that crosses the model boundary: messages in, one output back."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str


class GenerateConfig(BaseModel):
    """Generation settings; every field is part of the cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    json_schema: dict[str, Any] | None = Field(
        default=None, description="Ask the backend for JSON matching this schema."
    )
    prefill: str | None = Field(
        default=None,
        description="Opening of the assistant's answer, continued by the model.",
    )

    def merged(self, override: GenerateConfig | None) -> GenerateConfig:
        """Fields set in `override` win over ours."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_unset=True))


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ModelOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    cached: bool = False
    raw: dict[str, Any] | None = Field(default=None, repr=False)


class Generator(Protocol):
    """Anything that answers messages: a Model, or a RoleModel with its role's defaults."""

    async def generate(
        self, messages: list[Message], config: GenerateConfig | None = None
    ) -> ModelOutput: ...
