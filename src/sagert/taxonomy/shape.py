"""A taxonomy file's fields, and the whole-tree checks the loader runs to name the field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from sagert.taxonomy.keys import Key
from sagert.taxonomy.levels import LEVELS, Level
from sagert.taxonomy.node import TaxonomyNode, fill_levels


class TaxonomyShape(BaseModel):
    """The fields, without the whole-tree checks (the loader runs those to name the field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Key
    title: str = ""
    source: str = Field(default="", description="Citation: where the categories come from.")
    license: str = ""
    levels: list[Level] | None = Field(
        default=None,
        description="The levels written by hand; expansion may add deeper ones (informational).",
    )
    roots: list[TaxonomyNode] = Field(
        min_length=1,
        validation_alias=AliasChoices("nodes", "roots"),
        serialization_alias="nodes",
    )

    @model_validator(mode="before")
    @classmethod
    def _levels_from_depth(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = dict(data)
            for field in ("nodes", "roots"):
                if field in data:
                    data[field] = fill_levels(data[field], 0)
        return data


class Problem(NamedTuple):
    field: str
    message: str
    fix: str


def tree_problems(shape: TaxonomyShape) -> Iterator[Problem]:
    """What a well-typed tree can still get wrong: `levels`, depth, node levels, sibling keys."""
    if shape.levels is not None and tuple(shape.levels) != LEVELS[: len(shape.levels)]:
        yield Problem(
            "levels",
            f"{shape.levels} is not a prefix of {list(LEVELS)}",
            "list levels from the top, e.g. [macro, sub]",
        )
        return

    def visit(nodes: list[TaxonomyNode], field: str, depth: int) -> Iterator[Problem]:
        seen: dict[str, int] = {}
        for i, node in enumerate(nodes):
            here = f"{field}[{i}]"
            if depth >= len(LEVELS):
                yield Problem(
                    here,
                    f"node {node.key!r} is below the last level ({LEVELS[-1]})",
                    f"a taxonomy has at most {len(LEVELS)} levels: {', '.join(LEVELS)}",
                )
                continue
            if node.level != LEVELS[depth]:
                yield Problem(
                    f"{here}.level",
                    f"level {node.level!r} does not match the depth ({LEVELS[depth]!r})",
                    "leave `level` out: it follows from the depth",
                )
            for j, key in enumerate(node.all_keys()):
                name = f"{here}.key" if j == 0 else f"{here}.aliases[{j - 1}]"
                if key in seen and seen[key] != i:
                    yield Problem(
                        name,
                        f"key {key!r} is already used by sibling {field}[{seen[key]}]",
                        "give each sibling its own key and aliases",
                    )
                seen.setdefault(key, i)
            yield from visit(node.children, f"{here}.children", depth + 1)

    yield from visit(shape.roots, "nodes", 0)
