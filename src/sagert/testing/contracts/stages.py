"""A minimal stage contract (name, needs, makes, spec, roles); the Stage protocol is changing."""

from __future__ import annotations

import json
from typing import Any

from sagert.engine.stage import Stage, stages
from sagert.settings.roles import ROLES
from sagert.testing.contracts.base import ContractError, require


def check_stage(cls: type[Stage], settings: Any = None) -> None:
    """Check a stage class, built with `settings` (none: built without arguments)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ContractError(f"stage {cls!r}: needs a class attribute `name`")
    who = f"stage {name!r}"
    require(
        name in stages and stages.get(name) is cls,
        who,
        f"is not registered under its name: @stages.register({name!r}, 'one line')",
    )
    factory: Any = cls
    stage = factory() if settings is None else factory(settings)
    require(stage.name == name, who, f"an instance says name {stage.name!r}")
    require(stage.needs and stage.makes, who, "declares no `needs` or no `makes`")
    spec = stage.spec()
    try:
        json.dumps(spec)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"{who}: spec() {spec!r} must serialise to JSON ({exc})") from None
    roles = set(stage.roles())
    require(roles <= set(ROLES), who, f"roles() names unknown roles {sorted(roles - set(ROLES))}")
