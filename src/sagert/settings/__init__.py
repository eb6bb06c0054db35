"""Every section of the run YAML, pydantic only: the layer every other one reads settings from."""

from sagert.settings.run import (
    EMBEDDED_MODEL,
    ROLES,
    ModelsConfig,
    RoleName,
    RunConfig,
    load_config,
)

__all__ = ["EMBEDDED_MODEL", "ROLES", "ModelsConfig", "RoleName", "RunConfig", "load_config"]
