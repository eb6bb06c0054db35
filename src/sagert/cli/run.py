"""Opening a run for a command: context, the run's log file, and a clean close."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sagert.config import RunConfig
from sagert.context import RunContext


@asynccontextmanager
async def open_run(cfg: RunConfig) -> AsyncIterator[RunContext]:
    ctx = RunContext.open(cfg)
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
