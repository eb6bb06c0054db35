"""The Ray executor: record stages' `process` runs on Ray actors; the run is written here.

Each actor builds what a stage needs from the run's config (its own ModelPool, templates and,
when the run folder is on its filesystem, the run's response cache: SQLite in WAL mode takes
several processes) and answers `process(stage, record)` with the outputs of that record. The
driver keeps everything that makes a run a run: `run_stage` reads the inputs, skips the done
ones, and appends each input's outputs with its single write, so the ids, the files and
resume are those of a local run with the same seed (ids are hashes of lineage, seeds derive
from the run seed and record ids, never from where or in what order a record ran).

Each reply carries the actor's counters since its previous reply (model stats, endpoint
stats, spend per role); the driver adds them to its own models and ledger, so the summary,
the manifest's `spent` and the budgets count every call. Budgets are checked by the driver
before each record starts: calls already on an actor finish, so with Ray a budget may be
passed by the records in flight (up to the stage's `concurrency`).

Ray is an optional extra (`pip install 'sagert[ray]'`), imported only when this executor is
chosen.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.core.templates import Templates
from sagert.engine.calls import stats_delta
from sagert.engine.context import ModelPool, RunContext
from sagert.engine.runner import process_safely
from sagert.models.budget import Ledger, Spend
from sagert.models.cache import ResponseCache
from sagert.models.spec import ModelSpec
from sagert.settings.executor import ExecutorSettings
from sagert.settings.run import RunConfig
from sagert.store.records import Record
from sagert.store.run import RunStore

log = logging.getLogger(__name__)

Increments = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]


def import_ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise UserError(
            "the ray executor needs Ray, which is not installed",
            field="executor",
            fix="pip install 'sagert[ray]', or use executor: local",
        ) from None


class StageWorker:
    """The actor: one RunContext without a writable store, many records at once (async)."""

    def __init__(self, config: dict[str, Any], specs: dict[str, Any], run_dir: str) -> None:
        cfg = RunConfig.model_validate(config)
        path = Path(run_dir)
        # The run folder is on this machine on a local cluster (or a shared filesystem): use
        # its cache. Elsewhere there is none, and the worker asks the model every time.
        self.cache = (
            ResponseCache(RunStore(path).cache_path) if cfg.cache and path.is_dir() else None
        )
        # Budgets are the driver's: it counts what every worker spends, before each record.
        models = ModelPool(
            {name: ModelSpec.model_validate({**s, "budget": None}) for name, s in specs.items()},
            self.cache,
            Ledger(None),
        )
        self.ctx = RunContext(
            config=cfg,
            store=RunStore(path, read_only=True),
            models=models,
            templates=Templates(cfg.templates_dir),
            cache=self.cache,
        )
        self.stages: dict[str, Any] = {}
        self._stats: dict[str, dict[str, Any]] = {}
        self._spent: dict[str, Spend] = {}

    def set_stage(self, key: str, stage: Any) -> None:
        self.stages[key] = stage

    async def process(self, key: str, record: Record) -> tuple[list[Record], Increments]:
        stage = self.stages[key]
        for role in stage.roles():
            self.ctx.role(role)
        results = await process_safely(stage, record, self.ctx)
        return results, self._increments()

    def _increments(self) -> Increments:
        stats = self.ctx.models.stats_by_model()
        stats_share = stats_delta(self._stats, stats)
        self._stats = stats
        report = self.ctx.budget.report()
        spend_share: dict[str, dict[str, Any]] = {}
        for role, now in report.roles.items():
            was = self._spent.get(role, Spend())
            share = Spend(
                calls=now.calls - was.calls,
                prompt_tokens=now.prompt_tokens - was.prompt_tokens,
                completion_tokens=now.completion_tokens - was.completion_tokens,
                cost_usd=now.cost_usd - was.cost_usd,
            )
            if share.calls or share.tokens:
                spend_share[role] = share.model_dump()
            self._spent[role] = now.model_copy()
        return stats_share, spend_share

    async def aclose(self) -> None:
        await self.ctx.models.aclose()
        if self.cache is not None:
            self.cache.close()


class RayWorkers:
    """The driver's side: actors, a stage sent once to each, records to the least busy one."""

    def __init__(self, ray: Any, actors: list[Any], owns_cluster: bool) -> None:
        self.ray = ray
        self.actors = actors
        self.outstanding = [0] * len(actors)
        self.owns_cluster = owns_cluster
        self._published: dict[int, asyncio.Future[str]] = {}

    @classmethod
    def start(cls, ctx: RunContext, settings: ExecutorSettings) -> RayWorkers:
        ray = import_ray()
        owns = False
        if not ray.is_initialized():
            if settings.address:
                try:
                    ray.init(
                        address=settings.address,
                        log_to_driver=False,
                        logging_level=logging.WARNING,
                    )
                except (ConnectionError, RuntimeError) as exc:
                    raise UserError(
                        f"cannot reach the Ray cluster at {settings.address}: {exc}",
                        field="executor.address",
                        fix="start it (ray start --head), or leave the address out to start one",
                    ) from None
            else:
                ray.init(
                    num_cpus=settings.workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
                owns = True
        n = settings.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor = ray.remote(num_cpus=0, max_restarts=1, max_task_retries=1)(StageWorker)
        config = ctx.config.model_dump(mode="json")
        specs = {name: s.model_dump(mode="json") for name, s in ctx.models.specs.items()}
        actors = [actor.remote(config, specs, str(ctx.store.path.resolve())) for _ in range(n)]
        log.info("ray executor: %d workers", n)
        return cls(ray, actors, owns)

    async def _key(self, stage: Any) -> str:
        """The stage, sent once to every actor; records then name it by key."""
        ident = id(stage)
        if ident not in self._published:
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._published[ident] = future
            key = f"{stage.name}:{ident}"
            ref = self.ray.put(stage)
            await asyncio.gather(*(a.set_stage.remote(key, ref) for a in self.actors))
            future.set_result(key)
        return await self._published[ident]

    async def process(self, stage: Any, record: Record, ctx: RunContext) -> list[Record]:
        key = await self._key(stage)
        index = min(range(len(self.actors)), key=self.outstanding.__getitem__)
        self.outstanding[index] += 1
        try:
            results, (stats, spent) = await self.actors[index].process.remote(key, record)
        finally:
            self.outstanding[index] -= 1
        for entry in stats.values():
            roles = entry.get("roles") or []
            if roles:
                ctx.role(roles[0]).model.absorb(entry)
        for role, share in spent.items():
            ctx.budget.absorb(role, Spend.model_validate(share))
        out: list[Record] = results
        return out

    async def aclose(self) -> None:
        await asyncio.gather(*(a.aclose.remote() for a in self.actors), return_exceptions=True)
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
        if self.owns_cluster:
            self.ray.shutdown()
