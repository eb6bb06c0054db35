"""RunContext: what every stage gets, passed explicitly (no globals, no singletons)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sagert.models.providers  # noqa: F401  (registers the built-in providers)
from sagert.core.errors import UserError
from sagert.core.templates import Templates
from sagert.models.budget import Account, Ledger
from sagert.models.cache import ResponseCache
from sagert.models.model import Model, ModelStats
from sagert.models.provider import providers
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message, ModelOutput
from sagert.settings.run import ROLES, RoleName, RunConfig
from sagert.store.records import Record
from sagert.store.run import RunStore

log = logging.getLogger("sagert")


@dataclass
class RoleModel:
    """A Model as one role uses it: the role's system prompt and generation defaults applied."""

    role: str
    spec: ModelSpec
    model: Model
    account: Account | None = None
    """What this role spends, against its budget and the run's."""

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
            messages, self.spec.config.merged(config), use_cache=use_cache, budget=self.account
        )

    async def complete(
        self, prompt: str, config: GenerateConfig | None = None, *, use_cache: bool = True
    ) -> ModelOutput:
        """Raw completion with the role's generation defaults (no system prompt: no chat)."""
        return await self.model.complete(
            prompt, self.spec.config.merged(config), use_cache=use_cache, budget=self.account
        )

    @property
    def stats(self) -> ModelStats:
        return self.model.stats


class ModelPool:
    """Builds each backend once: roles with the same model, server and args share it."""

    def __init__(
        self,
        specs: dict[str, ModelSpec],
        cache: ResponseCache | None,
        ledger: Ledger | None = None,
    ) -> None:
        self.specs = dict(specs)
        self._cache = cache
        self.ledger = ledger if ledger is not None else Ledger(None)
        self._models: dict[tuple[str, ...], Model] = {}
        self._roles: dict[str, RoleModel] = {}

    def role(self, role: str) -> RoleModel:
        if role not in self._roles:
            spec = self.specs.get(role)
            if spec is None:
                raise UserError(
                    f"unknown role {role!r}", fix=f"use one of: {', '.join(self.specs)}"
                )
            account = self.ledger.account(role, spec.budget, spec.price)
            self._roles[role] = RoleModel(role, spec, self._model_for(role, spec), account)
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
            # A fleet may try each endpoint once per attempt: the attempt's time grows with it.
            per_endpoint = spec.timeout or provider.default_timeout
            self._models[key] = Model(
                provider,
                max_connections=spec.max_connections,
                retry=spec.retry,
                timeout=per_endpoint * getattr(provider, "attempts_per_call", 1),
                cache=self._cache,
            )
        return self._models[key]

    def stats_by_model(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for rm in self._roles.values():
            entry = out.setdefault(rm.model.name, {"roles": [], **rm.stats.as_dict()})
            entry["roles"].append(rm.role)
            endpoints = rm.model.endpoint_stats()
            if endpoints:
                entry["endpoints"] = endpoints
        return out

    def total_calls(self) -> int:
        return sum(m.stats.calls for m in self._models.values())

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()
        self._models.clear()
        self._roles.clear()


class StageWorkers(Protocol):
    """Where `RecordStage.process` runs when not in this process (the Ray executor).

    `process` returns the outputs of one input, made elsewhere, and counts the calls made for
    them in `ctx`'s models and ledger; the run store is written here only, by `run_stage`."""

    async def process(self, stage: Any, record: Record, ctx: RunContext) -> list[Record]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class RunContext:
    """What every stage gets. Immutable: a command that needs other models opens another."""

    config: RunConfig
    store: RunStore
    models: ModelPool
    templates: Templates
    cache: ResponseCache | None = None
    retry_failed: bool = False
    """Run the inputs whose records failed for good once more (and nothing else)."""
    workers: StageWorkers | None = None
    """None: record stages run in this process; else on these workers (Ray)."""

    @classmethod
    def open(
        cls,
        config: RunConfig,
        *,
        run_dir: Path | None = None,
        specs: dict[str, ModelSpec] | None = None,
        retry_failed: bool = False,
    ) -> RunContext:
        """Create or resume the run; `specs`: models by name (default: the config's roles)."""
        store = RunStore(run_dir or config.run_dir)
        for warning in store.open(config):
            log.warning(warning)
        cache = ResponseCache(store.cache_path) if config.cache else None
        if specs is None:
            specs = {role: config.models.for_role(role) for role in ROLES}
        ledger = Ledger(config.budget, store.manifest().spent)
        return cls(
            config=config,
            store=store,
            models=ModelPool(specs, cache, ledger),
            templates=Templates(config.templates_dir),
            cache=cache,
            retry_failed=retry_failed,
        )

    def role(self, role: RoleName | str) -> RoleModel:
        return self.models.role(role)

    @property
    def budget(self) -> Ledger:
        """What the run folder has spent, and its budgets (the run's and each role's)."""
        return self.models.ledger

    async def aclose(self) -> None:
        if self.workers is not None:
            await self.workers.aclose()
        if not self.store.read_only:
            self.store.record_spend(self.budget.report())
        await self.models.aclose()
        if self.cache is not None:
            self.cache.close()
