"""RunContext: what every stage gets, passed explicitly (no globals, no singletons)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sagert.models.providers  # noqa: F401  (registers the built-in providers)
from sagert.config import ROLES, RoleName, RunConfig
from sagert.errors import UserError
from sagert.models.cache import ResponseCache
from sagert.models.model import Model, ModelStats
from sagert.models.provider import providers
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message, ModelOutput
from sagert.store.run import RunStore
from sagert.templates import Templates


@dataclass
class RoleModel:
    """A Model as one role uses it: the role's system prompt and generation defaults applied."""

    role: str
    spec: ModelSpec
    model: Model

    async def generate(
        self,
        messages: list[Message],
        config: GenerateConfig | None = None,
        *,
        use_cache: bool = True,
    ) -> ModelOutput:
        if self.spec.system_prompt and not any(m.role == "system" for m in messages):
            messages = [Message(role="system", content=self.spec.system_prompt), *messages]
        return await self.model.generate(
            messages, self.spec.config.merged(config), use_cache=use_cache
        )

    async def complete(
        self, prompt: str, config: GenerateConfig | None = None, *, use_cache: bool = True
    ) -> ModelOutput:
        """Raw completion with the role's generation defaults (no system prompt: no chat)."""
        return await self.model.complete(
            prompt, self.spec.config.merged(config), use_cache=use_cache
        )

    @property
    def stats(self) -> ModelStats:
        return self.model.stats


class ModelPool:
    """Builds each backend once: roles with the same model, server and args share it."""

    def __init__(self, specs: dict[str, ModelSpec], cache: ResponseCache | None) -> None:
        self._specs = specs
        self._cache = cache
        self._models: dict[tuple[str, ...], Model] = {}
        self._roles: dict[str, RoleModel] = {}

    def role(self, role: str) -> RoleModel:
        if role not in self._roles:
            spec = self._specs.get(role)
            if spec is None:
                raise UserError(f"unknown role {role!r}", fix=f"use one of: {', '.join(ROLES)}")
            self._roles[role] = RoleModel(role, spec, self._model_for(role, spec))
        return self._roles[role]

    def _model_for(self, role: str, spec: ModelSpec) -> Model:
        key = spec.backend_key()
        if key not in self._models:
            factory = providers.get(spec.provider)
            try:
                provider = factory(spec)
            except UserError as exc:
                exc.field = f"models.{role}.{exc.field}" if exc.field else f"models.{role}"
                raise
            self._models[key] = Model(
                provider,
                max_connections=spec.max_connections,
                retry=spec.retry,
                timeout=spec.timeout or provider.default_timeout,
                cache=self._cache,
            )
        return self._models[key]

    def stats_by_model(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for rm in self._roles.values():
            entry = out.setdefault(rm.model.name, {"roles": [], **rm.stats.as_dict()})
            entry["roles"].append(rm.role)
        return out

    def total_calls(self) -> int:
        return sum(m.stats.calls for m in self._models.values())

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()
        self._models.clear()
        self._roles.clear()


@dataclass
class RunContext:
    config: RunConfig
    store: RunStore
    models: ModelPool
    templates: Templates
    rng: random.Random
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("sagert"))
    cache: ResponseCache | None = None

    @classmethod
    def open(cls, config: RunConfig, *, run_dir: Path | None = None) -> RunContext:
        store = RunStore(run_dir or config.run_dir)
        log = logging.getLogger("sagert")
        for warning in store.open(config):
            log.warning(warning)
        cache = ResponseCache(store.cache_path) if config.cache else None
        specs: dict[str, ModelSpec] = {role: config.models.for_role(role) for role in ROLES}
        return cls(
            config=config,
            store=store,
            models=ModelPool(specs, cache),
            templates=Templates(config.templates_dir),
            rng=random.Random(config.seed),
            log=log,
            cache=cache,
        )

    def role(self, role: RoleName | str) -> RoleModel:
        return self.models.role(role)

    async def aclose(self) -> None:
        await self.models.aclose()
        if self.cache is not None:
            self.cache.close()
