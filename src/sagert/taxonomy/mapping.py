"""Cross-taxonomy mapping: is the harm a judge found the one the prompt was made for?

Edges come from the built-in table (data/mappings.yaml, where the choices are explained) and from
nodes' own `maps_to`. A query uses, in order: edges from the source taxonomy to the target, edges
the other way round (read backwards), then chains through the hubs ALERT and Llama Guard 3
(sage -> alert -> llamaguard3, say). Chains widen the answer; direct edges are more precise.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import yaml
from pydantic import BaseModel, ConfigDict

from sagert.core.errors import UserError
from sagert.core.validation import validate
from sagert.taxonomy.builtin import data_text, load_taxonomy
from sagert.taxonomy.levels import PATH_SEP, NodePath
from sagert.taxonomy.tree import Taxonomy

TaxonomyRef = str | Taxonomy
"""A built-in name, a path to a YAML file, or a loaded Taxonomy."""

HUBS = ("alert", "llamaguard3")
Edges = dict[NodePath, list[NodePath]]


class MappingTable(BaseModel):
    """maps[from taxonomy][to taxonomy][from key] = [to keys]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    maps: dict[str, dict[str, dict[str, list[str]]]]


@cache
def builtin_mappings() -> MappingTable:
    file = "sagert:taxonomy/mappings.yaml"
    return validate(MappingTable, yaml.safe_load(data_text("mappings.yaml")), file=file)


def _taxonomy(ref: TaxonomyRef) -> Taxonomy:
    return ref if isinstance(ref, Taxonomy) else load_taxonomy(ref)


_EDGE_CACHE: dict[tuple[int, int], tuple[Taxonomy, Taxonomy, Edges]] = {}


def edges(src: Taxonomy, dst: Taxonomy) -> Edges:
    """Direct edges src -> dst, as canonical paths; a bad key is a UserError naming it."""
    cache_key = (id(src), id(dst))
    hit = _EDGE_CACHE.get(cache_key)
    if hit is not None:
        return hit[2]
    table: Edges = {}
    listed = builtin_mappings().maps.get(src.name, {}).get(dst.name, {})
    pairs: list[tuple[str, NodePath, list[str]]] = [
        ("mappings.yaml", src.resolve(key), targets) for key, targets in listed.items()
    ]
    for path, node in src.walk():
        if dst.name in node.maps_to:
            where = f"{src.name}: {PATH_SEP.join(path)}.maps_to"
            pairs.append((where, path, node.maps_to[dst.name]))
    for where, path, targets in pairs:
        for target in targets:
            try:
                resolved = dst.resolve(target)
            except UserError as exc:
                raise UserError(exc.message, field=where, fix=exc.fix) from None
            table.setdefault(path, [])
            if resolved not in table[path]:
                table[path].append(resolved)
    if len(_EDGE_CACHE) > 64:
        _EDGE_CACHE.clear()
    _EDGE_CACHE[cache_key] = (src, dst, table)  # holding both keeps their ids from being reused
    return table


def related(a: NodePath, b: NodePath) -> bool:
    """Same node, or one inside the other."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _forward(table: Edges, path: NodePath) -> list[NodePath]:
    if path in table:
        return table[path]
    for i in range(len(path) - 1, 0, -1):  # an expanded leaf inherits its ancestor's mapping
        if path[:i] in table:
            return table[path[:i]]
    found: list[NodePath] = []  # a parent takes its children's
    for p, targets in table.items():
        if p[: len(path)] == path:
            found.extend(t for t in targets if t not in found)
    return found


def _direct(src: Taxonomy, path: NodePath, dst: Taxonomy) -> list[NodePath]:
    if src.name == dst.name:
        return [path]
    found = _forward(edges(src, dst), path)
    if found:
        return found
    back = edges(dst, src)
    return [p for p, targets in back.items() if any(related(t, path) for t in targets)]


def _ordered(dst: Taxonomy, paths: Iterable[NodePath]) -> list[NodePath]:
    wanted = set(paths)
    return [p for p, _ in dst.walk() if p in wanted]


def map_paths(src: TaxonomyRef, ref: str | tuple[str, ...], dst: TaxonomyRef) -> list[NodePath]:
    """Paths in `dst` that correspond to node `ref` of `src`, in `dst`'s order; [] if none."""
    src_t, dst_t = _taxonomy(src), _taxonomy(dst)
    path = src_t.resolve(ref)
    found = _direct(src_t, path, dst_t)
    chains = [(hub,) for hub in HUBS] + [HUBS, HUBS[::-1]]
    for chain in chains:
        if found:
            break
        if src_t.name in chain or dst_t.name in chain:
            continue
        here: list[tuple[Taxonomy, NodePath]] = [(src_t, path)]
        for step in [*(load_taxonomy(h) for h in chain), dst_t]:
            here = [(step, p) for tax, at in here for p in _direct(tax, at, step)]
        found = [p for _, p in here]
    return _ordered(dst_t, found)


def map_keys(from_taxonomy: TaxonomyRef, key: str, to_taxonomy: TaxonomyRef) -> list[str]:
    """Keys in `to_taxonomy` for `key` (a key, alias or path) of `from_taxonomy`.

    map_keys("alert", "crime_cyber", "llamaguard3") == ["S2", "S14"]
    """
    return [p[-1] for p in map_paths(from_taxonomy, key, to_taxonomy)]


def matches(intended: tuple[TaxonomyRef, str], judged: tuple[TaxonomyRef, str]) -> bool:
    """Does a judge's category name the same harm as the intended one (either taxonomy)?

    Within one taxonomy a node matches itself, its ancestors and its descendants; across
    taxonomies the intended node is mapped into the judge's taxonomy (and the judged one back).
    """
    i_tax, j_tax = _taxonomy(intended[0]), _taxonomy(judged[0])
    i_path, j_path = i_tax.resolve(intended[1]), j_tax.resolve(judged[1])
    if i_tax.name == j_tax.name:
        return related(i_path, j_path)
    if any(related(p, j_path) for p in map_paths(i_tax, i_path, j_tax)):
        return True
    return any(related(p, i_path) for p in map_paths(j_tax, j_path, i_tax))
