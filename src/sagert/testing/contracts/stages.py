"""The stage contract: registered by name, built from a config, declares what it needs and makes."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from sagert.engine.stage import RecordStage, Stage, StreamStage, build, stages
from sagert.settings.roles import ROLES
from sagert.settings.run import RunConfig
from sagert.testing.contracts.base import ContractError, require


def check_stage(cls: type[Stage], config: RunConfig | dict[str, Any] | None = None) -> None:
    """Check a stage class, built the way a pipeline builds it from `config` (default: the
    default config, so the stage's settings come from its `Settings` defaults)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ContractError(f"stage {cls!r}: register it: @stages.register('name', 'one line')")
    who = f"stage {name!r}"
    require(
        name in stages and stages.get(name) is cls,
        who,
        f"is not registered under its name: @stages.register({name!r}, 'one line')",
    )
    schema = getattr(cls, "Settings", None)
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise ContractError(
            f"{who}: needs a class attribute `Settings`: the pydantic model of its config section"
        )
    cfg = config if isinstance(config, RunConfig) else RunConfig.model_validate(config or {})
    stage = build(cls, cfg)
    require(
        isinstance(stage, RecordStage | StreamStage),
        who,
        "needs process(record, ctx) or run_stream(inputs, total, ctx, progress) + outputs(ctx)",
    )
    require(isinstance(stage.settings, schema), who, "its `settings` is not its `Settings`")
    require(stage.name == name, who, f"an instance says name {stage.name!r}")
    require(bool(stage.needs) and bool(stage.makes), who, "declares no `needs` or no `makes`")
    spec = stage.spec()
    try:
        json.dumps(spec)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"{who}: spec() {spec!r} must serialise to JSON ({exc})") from None
    roles = set(stage.roles())
    require(roles <= set(ROLES), who, f"roles() names unknown roles {sorted(roles - set(ROLES))}")
