"""The provider contract: what the Model wrapper relies on to cache, limit and retry calls."""

from __future__ import annotations

import json

from sagert.models.provider import ModelProvider, ProviderError, ProviderFactory, providers
from sagert.models.spec import ModelSpec
from sagert.testing.contracts.base import ContractError, require, run_sync


def check_provider(
    factory: ProviderFactory, spec: ModelSpec, *, timeouts_retryable: bool | None = None
) -> None:
    """Check a provider factory with a minimal `spec` naming it; ContractError if broken.

    Building the provider must not call a model. `timeouts_retryable`, when given, is whether
    a timed-out call may be sent again (False for in-process engines that cannot cancel one).
    """
    who = f"provider {spec.provider!r}"
    require(
        spec.provider in providers and providers.get(spec.provider) is factory,
        who,
        f"is not registered under {spec.provider!r}: decorate the factory with "
        f"@providers.register({spec.provider!r}, 'one line')",
    )
    provider = factory(spec)
    try:
        require(
            isinstance(provider, ModelProvider),
            who,
            "does not implement ModelProvider (name, default_max_connections, default_timeout, "
            "identity, generate, complete, is_retryable, aclose)",
        )
        require(provider.name == spec.model, who, f"name is {provider.name!r}, not the spec's")
        require(provider.default_max_connections >= 1, who, "default_max_connections < 1")
        require(provider.default_timeout > 0, who, "default_timeout must be > 0 seconds")
        identity = provider.identity()
        try:
            json.dumps(identity)
        except (TypeError, ValueError) as exc:
            raise ContractError(
                f"{who}: identity() {identity!r} is part of the cache key and must serialise "
                f"to JSON ({exc})"
            ) from None
        require(
            provider.is_retryable(ProviderError("x", retryable=True)),
            who,
            "a ProviderError(retryable=True) is not retried",
        )
        require(
            not provider.is_retryable(ProviderError("x", retryable=False)),
            who,
            "a ProviderError(retryable=False) is retried",
        )
        require(not provider.is_retryable(ValueError()), who, "a ValueError (a bug) is retried")
        if timeouts_retryable is not None:
            retried = provider.is_retryable(TimeoutError())
            require(
                retried is timeouts_retryable,
                who,
                f"is_retryable(TimeoutError()) is {retried}, expected {timeouts_retryable}",
            )
    finally:
        run_sync(provider.aclose())
