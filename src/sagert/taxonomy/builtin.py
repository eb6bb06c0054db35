"""The built-in taxonomies (package data), and `load_taxonomy` for those and user YAML files."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.resources import files
from pathlib import Path

from sagert.core.errors import ConfigError, UserError
from sagert.core.registry import Registry
from sagert.taxonomy.node import walk_fields
from sagert.taxonomy.tree import Taxonomy

taxonomies: Registry[Callable[[], Taxonomy]] = Registry("taxonomy")

BUILTIN = {
    "alert": "ALERT: 6 macro / 32 sub categories (the SAGE-RT starting point)",
    "llamaguard3": "Llama Guard 3 hazard categories S1-S14 (MLCommons)",
    "sage": "SAGE dataset: the five Enkrypt AI categories, subs aligned with ALERT",
    "harmbench": "HarmBench: 7 semantic categories",
    "jailbreakbench": "JailbreakBench: 10 categories of JBB-Behaviors",
}


def data_text(filename: str) -> str:
    """A file shipped in sagert/taxonomy/data (works from a wheel or a zip too)."""
    return files("sagert.taxonomy").joinpath("data", filename).read_text(encoding="utf-8")


def _builtin_loader(name: str) -> Callable[[], Taxonomy]:
    @cache
    def load() -> Taxonomy:
        # Cached and frozen: every caller shares one parsed tree.
        return Taxonomy.from_yaml(data_text(f"{name}.yaml"), file=f"sagert:taxonomy/{name}.yaml")

    load.__doc__ = BUILTIN[name]
    return load


for _name, _description in BUILTIN.items():
    taxonomies.add(_name, _builtin_loader(_name), _description)


def load_taxonomy(name_or_path: str | Path) -> Taxonomy:
    """A registered taxonomy by name, or a user taxonomy from a YAML file path."""
    if isinstance(name_or_path, str) and name_or_path in taxonomies:
        return taxonomies.get(name_or_path)()
    path = Path(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, Path)
        or path.suffix in (".yaml", ".yml")
        or len(path.parts) > 1
        or path.exists()
    )
    if looks_like_path:
        tax = Taxonomy.from_file(path)
        check_maps_to(tax, file=str(path))
        return tax
    raise UserError(
        f"unknown taxonomy {name_or_path!r}",
        fix=f"use one of: {', '.join(taxonomies.names())}, or a path to a .yaml file",
    )


def check_maps_to(tax: Taxonomy, *, file: str | None = None) -> None:
    """Keys a node maps to in a built-in taxonomy must exist there: catch typos at load time."""
    for field, _, node in walk_fields(tax.roots):
        for other, keys in node.maps_to.items():
            if other not in taxonomies:
                continue  # another user taxonomy: checked when a mapping is asked for
            target = taxonomies.get(other)()
            for i, key in enumerate(keys):
                if key not in target:
                    raise ConfigError(
                        f"{key!r} is not a key of taxonomy {other!r}",
                        file=file,
                        field=f"{field}.maps_to.{other}[{i}]",
                        fix=f"see: sagert taxonomy show {other}",
                    )
