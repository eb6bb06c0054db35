"""Opening a run for a command: context, the run's log file, and a clean close."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from sagert.engine.context import RunContext
from sagert.models.spec import ModelSpec
from sagert.settings.run import RunConfig


@asynccontextmanager
async def open_run(
    cfg: RunConfig, *, specs: dict[str, ModelSpec] | None = None, retry_failed: bool = False
) -> AsyncIterator[RunContext]:
    on_ray = cfg.executor is not None and cfg.executor.kind == "ray"
    if on_ray:
        from sagert.engine.ray_executor import RayWorkers, import_ray  # Ray only when asked for

        import_ray()  # not installed: one line, before the run folder is touched
    ctx = RunContext.open(cfg, specs=specs, retry_failed=retry_failed)
    if on_ray:
        assert cfg.executor is not None
        try:
            ctx = replace(ctx, workers=RayWorkers.start(ctx, cfg.executor))
        except BaseException:
            await ctx.aclose()
            raise
    logger = logging.getLogger("sagert")
    file_log = logging.FileHandler(ctx.store.log_path, encoding="utf-8")
    file_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(file_log)
    try:
        yield ctx
    finally:
        await ctx.aclose()
        logger.removeHandler(file_log)
        file_log.close()
