"""`sagert models test`: one real, uncached call to a role's model."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sagert.core.errors import UserError
from sagert.core.templates import Templates
from sagert.engine.context import ModelPool
from sagert.models.model import ModelCallError
from sagert.models.types import Message, ModelOutput
from sagert.settings.run import ROLES, RunConfig


@dataclass(frozen=True)
class SmokeTest:
    model: str
    seconds: float
    output: ModelOutput


def smoke_test(config: RunConfig, role: str) -> SmokeTest:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}", fix=f"use one of: {', '.join(ROLES)}")
    prompt = Templates(config.templates_dir).render("models/smoke_test.j2")
    return asyncio.run(_call(config, role, prompt))


async def _call(config: RunConfig, role: str, prompt: str) -> SmokeTest:
    pool = ModelPool({r: config.models.for_role(r) for r in ROLES}, cache=None)
    try:
        model = pool.role(role)
        started = time.perf_counter()
        try:
            out = await model.generate([Message(role="user", content=prompt)], use_cache=False)
        except ModelCallError as exc:
            raise UserError(
                f"{role}: the call failed: {exc}", fix="check the model and server"
            ) from exc
        return SmokeTest(model.spec.model, time.perf_counter() - started, out)
    finally:
        await pool.aclose()
