"""What is registered, by kind: `sagert list` and the plugin contract tests read it here."""

from __future__ import annotations

from typing import Any

from sagert.core.registry import Registry
from sagert.core.templates import Templates
from sagert.settings.roles import ROLE_DESCRIPTIONS

KINDS = (
    "providers",
    "stages",
    "templates",
    "roles",
    "taxonomies",
    "formats",
    "attacks",
    "operators",
    "judges",
    "loaders",
)
REGISTRY_KINDS = tuple(k for k in KINDS if k not in ("templates", "roles"))


def registry(kind: str) -> Registry[Any]:
    """The registry of one plugin kind, its built-in plugins registered."""
    import sagert.attacks
    import sagert.judges
    import sagert.loaders
    import sagert.models.providers
    import sagert.stages  # noqa: F401  (importing a plugin package registers its plugins)
    from sagert.attacks.base import attacks, operators
    from sagert.engine.stage import stages
    from sagert.generation.formats import formats
    from sagert.judges.base import judges
    from sagert.loaders import loaders
    from sagert.models.provider import providers
    from sagert.taxonomy import taxonomies

    by_kind: dict[str, Registry[Any]] = {
        "providers": providers,
        "stages": stages,
        "taxonomies": taxonomies,
        "formats": formats,
        "attacks": attacks,
        "operators": operators,
        "judges": judges,
        "loaders": loaders,
    }
    return by_kind[kind]


def rows(kind: str, templates: Templates) -> list[tuple[str, str]]:
    """(name, description) per entry; for templates, (name, where it comes from)."""
    if kind == "templates":
        return [(name, templates.source_of(name)) for name in templates.names()]
    if kind == "roles":
        return list(ROLE_DESCRIPTIONS.items())
    return [(e.name, e.description) for e in registry(kind)]
