"""Every registered plugin of a kind, entry-point plugins included: for pytest and for loops."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagert.core.registry import Registry, load_entry_point_plugins
from sagert.models.spec import ModelSpec
from sagert.testing.contracts.formats import check_format
from sagert.testing.contracts.judges import check_judge
from sagert.testing.contracts.loaders import check_loader
from sagert.testing.contracts.providers import check_provider
from sagert.testing.contracts.stages import check_stage
from sagert.testing.contracts.taxonomies import check_taxonomy
from sagert.testing.contracts.transforms import check_attack
from sagert.workflows.catalog import REGISTRY_KINDS, registry

if TYPE_CHECKING:
    import pytest

KINDS: tuple[str, ...] = REGISTRY_KINDS
"""providers, stages, taxonomies, formats, attacks, operators, judges, loaders."""


def plugin_registry(kind: str) -> Registry[Any]:
    """The registry of `kind`, built-ins and installed entry-point plugins registered."""
    if kind not in KINDS:
        raise ValueError(f"unknown plugin kind {kind!r}; use one of: {', '.join(KINDS)}")
    load_entry_point_plugins()
    return registry(kind)


def plugin_names(kind: str, *, package: str | None = None) -> list[str]:
    """Registered names of `kind`; with `package`, only plugins defined in that package.

    The package is read from the plugin's `__module__`: classes and functions (judges,
    attacks, operators, stages, providers, loaders), not format instances.
    """
    names = []
    for entry in plugin_registry(kind):
        module = str(getattr(entry.obj, "__module__", ""))
        if package is None or module == package or module.startswith(f"{package}."):
            names.append(entry.name)
    return names


def parametrize(
    kind: str, argname: str = "name", *, package: str | None = None
) -> pytest.MarkDecorator:
    """`@pytest.mark.parametrize(argname, plugin_names(kind))`: one test per plugin."""
    import pytest  # only the test run needs pytest, not sagert

    return pytest.mark.parametrize(argname, plugin_names(kind, package=package))


def check_plugin(
    kind: str,
    name: str,
    *,
    settings: Any = None,
    answer: str = "safe",
    options: dict[str, Any] | None = None,
    spec: ModelSpec | None = None,
    timeouts_retryable: bool | None = None,
    sample: Path | None = None,
    bad: Path | None = None,
) -> None:
    """Run the contract of `kind` on the registered plugin `name`.

    judges: `settings`, `answer`; stages: `settings`; attacks, operators: `options`;
    providers: `spec` (default `<name>/contract`), `timeouts_retryable`; loaders: `sample`
    (required) and `bad`; formats and taxonomies take nothing.
    """
    obj = plugin_registry(kind).get(name)
    if kind == "judges":
        check_judge(obj, settings, answer=answer)
    elif kind in ("attacks", "operators"):
        check_attack(obj, options=options)
    elif kind == "providers":
        model_spec = spec if spec is not None else ModelSpec(model=f"{name}/contract")
        check_provider(obj, model_spec, timeouts_retryable=timeouts_retryable)
    elif kind == "loaders":
        if sample is None:
            raise TypeError("check_plugin('loaders', ...) needs sample=<a file the loader reads>")
        check_loader(name, sample, bad=bad)
    elif kind == "formats":
        check_format(obj)
    elif kind == "taxonomies":
        check_taxonomy(name)
    else:
        check_stage(obj, settings)


@contextmanager
def isolated_registries() -> Iterator[None]:
    """Registrations made inside the block are forgotten on leaving it (throwaway plugins)."""
    saved = [(plugin_registry(kind), plugin_registry(kind).snapshot()) for kind in KINDS]
    try:
        yield
    finally:
        for reg, snapshot in saved:
            reg.restore(snapshot)
