"""`--executor ray [--ray-address ADDR]`: the options generate, respond and evaluate share."""

from __future__ import annotations

from typing import Literal

import typer

from sagert.settings.executor import ExecutorSettings
from sagert.settings.run import RunConfig

ExecutorOption = typer.Option(
    None,
    "--executor",
    help="Where record stages run: local (this process) or ray (default: the config's executor).",
)
RayAddressOption = typer.Option(
    None,
    "--ray-address",
    help="A running Ray cluster (host:port, auto); unset: start a local one. Implies ray.",
)


def with_executor(
    cfg: RunConfig, executor: Literal["local", "ray"] | None, ray_address: str | None
) -> RunConfig:
    """The config with the command line's executor choice, if any."""
    if executor is None and ray_address is None:
        return cfg
    current = cfg.executor or ExecutorSettings()
    update: dict[str, object] = {"kind": executor or "ray"}
    if ray_address is not None:
        update["address"] = ray_address
    settings = ExecutorSettings.model_validate({**current.model_dump(), **update})
    return cfg.model_copy(update={"executor": settings})
