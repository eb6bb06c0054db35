"""One taxonomy node and the helpers that build, copy and print trees of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sagert.taxonomy.keys import Key, KeyList, NonEmpty
from sagert.taxonomy.levels import LEVELS, Level, NodePath


class TaxonomyNode(BaseModel):
    """One category; prompts show the model its `description`, so keep that to a sentence or two."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    name: NonEmpty
    description: NonEmpty
    level: Level
    prompt_name: str | None = Field(
        default=None, description="The name a judge's prompt uses, when it differs from `name`."
    )
    aliases: list[Key] = Field(default_factory=list)
    maps_to: dict[str, KeyList] = Field(
        default_factory=dict, description="Taxonomy name -> keys there (one key may be a string)."
    )
    children: list[TaxonomyNode] = Field(default_factory=list)

    def all_keys(self) -> tuple[str, ...]:
        """The key and its aliases: every name this node answers to."""
        return (self.key, *self.aliases)


def fill_levels(nodes: Any, depth: int) -> Any:
    """Write each raw node's level from its depth, so files need not spell it out."""
    if not isinstance(nodes, list):
        return nodes
    filled: list[Any] = []
    for node in nodes:
        if isinstance(node, Mapping):
            node = dict(node)
            node.setdefault("level", LEVELS[min(depth, len(LEVELS) - 1)])
            if "children" in node:
                node["children"] = fill_levels(node["children"], depth + 1)
        filled.append(node)
    return filled


def walk_fields(
    nodes: list[TaxonomyNode], field: str = "nodes", prefix: NodePath = ()
) -> Iterator[tuple[str, NodePath, TaxonomyNode]]:
    """Like Taxonomy.walk, with each node's field path in the YAML (for error messages)."""
    for i, node in enumerate(nodes):
        here, path = f"{field}[{i}]", (*prefix, node.key)
        yield here, path, node
        yield from walk_fields(node.children, f"{here}.children", path)


def node_dict(node: TaxonomyNode) -> dict[str, Any]:
    """A node's YAML form: defaults and levels left out, so files stay short."""
    data: dict[str, Any] = {"key": node.key, "name": node.name}
    if node.prompt_name is not None:
        data["prompt_name"] = node.prompt_name
    data["description"] = node.description
    if node.aliases:
        data["aliases"] = list(node.aliases)
    if node.maps_to:
        data["maps_to"] = {k: list(v) for k, v in node.maps_to.items()}
    if node.children:
        data["children"] = [node_dict(c) for c in node.children]
    return data


def replace_children(
    nodes: list[TaxonomyNode],
    path: NodePath,
    children: Callable[[TaxonomyNode], list[TaxonomyNode]],
) -> list[TaxonomyNode]:
    """Copies of `nodes` with the node at `path` given `children(node)` as its children."""
    out = []
    for node in nodes:
        if node.key != path[0]:
            out.append(node)
        elif len(path) == 1:
            out.append(node.model_copy(update={"children": children(node)}))
        else:
            inner = replace_children(node.children, path[1:], children)
            out.append(node.model_copy(update={"children": inner}))
    return out
