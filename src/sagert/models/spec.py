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


class Endpoint(BaseModel):
    """One server of a fleet: all of a role's endpoints serve the same model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1, description="The server's /v1 base URL.")
    weight: float = Field(
        default=1.0,
        gt=0.0,
        le=1000.0,
        description="Share of the load (least outstanding / weight).",
    )
    max_connections: int | None = Field(
        default=None, ge=1, le=4096, description="This server's limit (default: the role's)."
    )


class RoutingPolicy(BaseModel):
    """When a fleet's endpoint is taken out of service, and for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failures_to_eject: int = Field(
        default=3, ge=1, le=1000, description="Failures in a row that take an endpoint out."
    )
    cooldown: float = Field(
        default=5.0, ge=0.0, description="Seconds out before one request probes it again."
    )
    max_cooldown: float = Field(
        default=60.0, ge=0.0, description="The cool-down doubles per failed probe, up to this."
    )


class Budget(BaseModel):
    """The most a run (or one role of it) may spend, over every invocation of the run folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calls: int | None = Field(default=None, ge=0, description="Model calls (attempts).")
    tokens: int | None = Field(default=None, ge=0, description="Prompt + completion tokens.")
    cost_usd: float | None = Field(
        default=None, ge=0.0, description="Estimated cost, from each role's price."
    )

    def is_set(self) -> bool:
        return any(v is not None for v in (self.calls, self.tokens, self.cost_usd))


class Price(BaseModel):
    """What a model's tokens cost, in US dollars per million, for cost budgets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_per_1m: float = Field(default=0.0, ge=0.0)
    completion_per_1m: float = Field(default=0.0, ge=0.0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.prompt_per_1m + completion_tokens * self.completion_per_1m
        ) / 1e6


class ModelSpec(BaseModel):
    """One model as a role uses it (`models.<role>` in the config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="provider/model, e.g. llamacpp/smollm2 or openai/gpt-4o-mini")
    base_url: str | list[str] | None = Field(
        default=None,
        description="For servers: the /v1 base URL; a list of them is a fleet (openai provider).",
    )
    endpoints: list[Endpoint] | None = Field(
        default=None,
        description="A fleet with weights and per-endpoint limits (instead of base_url).",
    )
    routing: RoutingPolicy = Field(default_factory=RoutingPolicy)
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
    budget: Budget | None = Field(default=None, description="The most this role may spend.")
    price: Price | None = Field(default=None, description="USD per 1M tokens, for cost budgets.")

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

    @model_validator(mode="after")
    def _one_fleet(self) -> ModelSpec:
        if self.endpoints is not None and self.base_url is not None:
            raise ValueError("give base_url or endpoints, not both")
        urls = [e.base_url for e in self.fleet() or []]
        if self.fleet() == []:
            raise ValueError("a fleet needs at least one endpoint")
        twice = sorted({u for u in urls if urls.count(u) > 1})
        if twice:
            raise ValueError(f"endpoint {twice[0]} is listed twice")
        if self.budget is not None and self.budget.cost_usd is not None and self.price is None:
            raise ValueError(
                "budget.cost_usd needs the model's price: price: {prompt_per_1m: X,"
                " completion_per_1m: Y}"
            )
        return self

    def fleet(self) -> list[Endpoint] | None:
        """The endpoints of a fleet (base_url as a list, or endpoints); None for one server."""
        if self.endpoints is not None:
            return list(self.endpoints)
        if isinstance(self.base_url, list):
            return [Endpoint(base_url=url) for url in self.base_url]
        return None

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
            repr(self.base_url or ""),
            repr([e.model_dump() for e in self.endpoints or []]),
            repr(self.routing.model_dump()),
            self.api_key_env or "",
            repr(sorted(self.args.items())),
        )
