"""How a model is configured: provider/model name, server, limits, retries, defaults."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sagert.models.types import GenerateConfig


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter; a server's Retry-After is honoured up to a cap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=6, ge=1, le=100)
    initial_wait: float = Field(default=1.0, ge=0.0)
    max_wait: float = Field(default=60.0, ge=0.0)
    jitter: float = Field(default=1.0, ge=0.0)
    max_retry_after: float = Field(
        default=300.0, ge=0.0, description="Longest Retry-After we agree to wait."
    )


class ModelSpec(BaseModel):
    """One model as a role uses it (`models.<role>` in the config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="provider/model, e.g. llamacpp/smollm2 or openai/gpt-4o-mini")
    base_url: str | None = Field(default=None, description="For servers: the /v1 base URL.")
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding the API key."
    )
    max_connections: int | None = Field(
        default=None, ge=1, le=4096, description="Concurrent calls; provider default if unset."
    )
    timeout: float | None = Field(
        default=None, gt=0.0, description="Seconds per call attempt (default: the provider's)."
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    config: GenerateConfig = Field(default_factory=GenerateConfig)
    system_prompt: str | None = Field(
        default=None, description="Prepended as a system message on every call for this role."
    )
    args: dict[str, Any] = Field(default_factory=dict, description="Provider-specific settings.")

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("api_key", "key", "token", "password"):
                if key in data:
                    raise ValueError(
                        f"'{key}' must not be written in a config (it would be copied into runs);"
                        " put the key in an environment variable and name it with api_key_env"
                    )
        return data

    @field_validator("model")
    @classmethod
    def _provider_slash_model(cls, v: str) -> str:
        provider, sep, name = v.partition("/")
        if not sep or not provider or not name:
            raise ValueError("must be provider/model, e.g. llamacpp/smollm2")
        return v

    @property
    def provider(self) -> str:
        return self.model.partition("/")[0]

    @property
    def model_name(self) -> str:
        return self.model.partition("/")[2]

    def backend_key(self) -> tuple[str, ...]:
        """Roles whose specs share this key share one provider (one engine, one limit)."""
        return (
            self.model,
            self.base_url or "",
            self.api_key_env or "",
            repr(sorted(self.args.items())),
        )
