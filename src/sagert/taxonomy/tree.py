"""A harm taxonomy as a tree: macro -> sub -> leaf -> topic.

SAGE-RT starts from a small hand-made taxonomy (ALERT's 6 macro / 32 sub categories) and lets an
LLM grow the levels below it; every generated record carries the path of the node it came from.

User taxonomies are YAML files (see docs/taxonomies.md)::

    name: my-bank                 # a slug: letters, digits, _ . + -
    title: Banking harms          # optional
    source: "Our risk register"   # optional citation text
    license: internal             # optional
    levels: [macro, sub]          # optional, informational: the levels written by hand (a
                                  # prefix of macro, sub, leaf, topic); expansion adds the rest
    nodes:                        # the macro-level nodes ("roots" is accepted too)
      - key: fraud                # a slug, unique among its siblings
        name: Fraud               # for humans
        description: Deceiving customers or the bank for money.   # used in prompts
        aliases: [scams]          # optional: other keys accepted for this node
        maps_to: {llamaguard3: [S2]}   # optional: taxonomy name -> keys in it
        children:
          - {key: card_skimming, name: Card skimming, description: Stealing card data.}

A node's `level` follows from its depth and need not be written. Any problem is a one-line
ConfigError naming the file and the field, e.g. `nodes[0].children[1].key`.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from sagert.core.errors import ConfigError, UserError
from sagert.core.validation import validate

Level = Literal["macro", "sub", "leaf", "topic"]
LEVELS: tuple[Level, ...] = ("macro", "sub", "leaf", "topic")
NodePath = tuple[str, ...]
"""Keys from a macro node down to a node, e.g. ("crime", "crime_cyber")."""

PATH_SEP = "/"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
MAX_KEY_LENGTH = 80


def slugify(text: str, taken: Iterable[str] = (), max_length: int = 64) -> str:
    """A key for an LLM-made name: ASCII, lower case, `_` between words, unique among `taken`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    slug = slug[:max_length].rstrip("_") or "node"
    used = set(taken)
    if slug not in used:
        return slug
    n = 2
    while f"{slug}_{n}" in used:
        n += 1
    return f"{slug}_{n}"


def _check_key(value: str) -> str:
    if not _KEY.match(value) or len(value) > MAX_KEY_LENGTH:
        raise ValueError(
            f"{value!r} is not a key: use letters, digits and _ . + - (at most "
            f"{MAX_KEY_LENGTH}), e.g. {slugify(value)!r}"
        )
    return value


def _check_text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Key = Annotated[str, AfterValidator(_check_key)]
NonEmpty = Annotated[str, AfterValidator(_check_text)]
KeyList = Annotated[list[NonEmpty], BeforeValidator(_listify)]


class LevelPath(NamedTuple):
    """A node path spread over the four named levels, as records store it."""

    macro: str | None = None
    sub: str | None = None
    leaf: str | None = None
    topic: str | None = None

    @classmethod
    def of(cls, path: Sequence[str]) -> LevelPath:
        if len(path) > len(LEVELS):
            raise ValueError(f"a path has at most {len(LEVELS)} keys, got {len(path)}")
        return cls(*path)

    @property
    def keys(self) -> NodePath:
        return tuple(k for k in self if k is not None)

    def as_dict(self) -> dict[str, str | None]:
        return dict(self._asdict())


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


def _fill_levels(nodes: Any, depth: int) -> Any:
    """Write each raw node's level from its depth, so files need not spell it out."""
    if not isinstance(nodes, list):
        return nodes
    filled: list[Any] = []
    for node in nodes:
        if isinstance(node, Mapping):
            node = dict(node)
            node.setdefault("level", LEVELS[min(depth, len(LEVELS) - 1)])
            if "children" in node:
                node["children"] = _fill_levels(node["children"], depth + 1)
        filled.append(node)
    return filled


class _TaxonomyShape(BaseModel):
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
                    data[field] = _fill_levels(data[field], 0)
        return data


class Problem(NamedTuple):
    field: str
    message: str
    fix: str


def tree_problems(shape: _TaxonomyShape) -> Iterator[Problem]:
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


class Taxonomy(_TaxonomyShape):
    """A named tree of harm categories, with the lookups the pipeline needs."""

    @model_validator(mode="after")
    def _tree_is_sound(self) -> Taxonomy:
        for problem in tree_problems(self):
            raise ValueError(f"{problem.field}: {problem.message} ({problem.fix})")
        return self

    # -- reading ---------------------------------------------------------------------------

    def walk(self) -> Iterator[tuple[NodePath, TaxonomyNode]]:
        """Every node depth-first (parents before children), with its path."""

        def visit(
            nodes: list[TaxonomyNode], prefix: NodePath
        ) -> Iterator[tuple[NodePath, TaxonomyNode]]:
            for node in nodes:
                path = (*prefix, node.key)
                yield path, node
                yield from visit(node.children, path)

        return visit(self.roots, ())

    @cached_property
    def _by_path(self) -> dict[NodePath, TaxonomyNode]:
        return dict(self.walk())

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, str | tuple | list):
            return False
        try:
            self.resolve(ref)
        except UserError:
            return False
        return True

    def resolve(self, ref: str | Sequence[str]) -> NodePath:
        """The canonical path of a key, alias or path ("a/b" or a key sequence); UserError if none.

        A path may start below the macro level ("crime_cyber/phishing") when that is unambiguous.
        """
        if isinstance(ref, str) and PATH_SEP not in ref:
            return self._resolve_key(ref)
        parts = tuple(ref.split(PATH_SEP) if isinstance(ref, str) else ref)
        if not parts:
            raise UserError(f"empty path in taxonomy {self.name!r}", fix="name a node")
        if len(parts) == 1:
            return self._resolve_key(parts[0])
        found = [p for p in self._by_path if self._ends_with(p, parts)]
        anchored = [p for p in found if len(p) == len(parts)]
        found = anchored or found
        if len(found) == 1:
            return found[0]
        if not found:
            raise self._unknown(PATH_SEP.join(parts), parts[-1])
        raise self._ambiguous(PATH_SEP.join(parts), found)

    def _ends_with(self, path: NodePath, parts: NodePath) -> bool:
        """Do the last len(parts) nodes of `path` answer to `parts` (aliases allowed)?"""
        if len(path) < len(parts):
            return False
        start = len(path) - len(parts)
        return all(
            part in self._by_path[path[: start + i + 1]].all_keys() for i, part in enumerate(parts)
        )

    def _resolve_key(self, key: str) -> NodePath:
        exact = [p for p, n in self._by_path.items() if n.key == key]
        found = exact or [p for p, n in self._by_path.items() if key in n.aliases]
        if len(found) == 1:
            return found[0]
        if not found:
            raise self._unknown(key, key)
        raise self._ambiguous(key, found)

    def _ambiguous(self, ref: str, found: list[NodePath]) -> UserError:
        paths = ", ".join(PATH_SEP.join(p) for p in found[:5])
        return UserError(
            f"{ref!r} is ambiguous in taxonomy {self.name!r}",
            fix=f"give a longer path: one of {paths}",
        )

    def _unknown(self, ref: str, part: str) -> UserError:
        names = sorted({k for _, n in self._by_path.items() for k in n.all_keys()})
        close = difflib.get_close_matches(part, names, n=3)
        fix = f"did you mean {', '.join(close)}?" if close else "see: sagert taxonomy show"
        return UserError(f"no node {ref!r} in taxonomy {self.name!r}", fix=fix)

    def find(self, ref: str | Sequence[str]) -> TaxonomyNode:
        """The node for a key, alias or path (aliases accepted at every step)."""
        return self._by_path[self.resolve(ref)]

    def level_path(self, ref: str | Sequence[str]) -> LevelPath:
        """(macro, sub, leaf, topic) of a node, None below it: what a Record stores."""
        return LevelPath.of(self.resolve(ref))

    def leaves(self) -> list[tuple[NodePath, TaxonomyNode]]:
        """The frontier: nodes without children, at whatever depth the tree reaches so far."""
        return [(p, n) for p, n in self.walk() if not n.children]

    def nodes_at(self, level: Level) -> list[tuple[NodePath, TaxonomyNode]]:
        return [(p, n) for p, n in self.walk() if n.level == level]

    def counts(self) -> dict[Level, int]:
        """How many nodes each level has (all four levels, zeros included)."""
        counts: dict[Level, int] = dict.fromkeys(LEVELS, 0)
        for _, node in self.walk():
            counts[node.level] += 1
        return counts

    # -- growing ---------------------------------------------------------------------------

    def add_children(
        self,
        ref: str | Sequence[str],
        children: Iterable[TaxonomyNode | Mapping[str, Any]],
        *,
        on_duplicate: Literal["error", "skip", "rename"] = "error",
    ) -> Taxonomy:
        """A new taxonomy with `children` appended under a node (for LLM-made expansions).

        Children may be nodes or mappings without `level` (it is set from the depth). A child
        whose key clashes with a sibling raises ValueError, is skipped, or gets a `_2` suffix.
        """
        path = self.resolve(ref)
        if len(path) >= len(LEVELS):
            raise ValueError(f"{PATH_SEP.join(path)} is a topic: topics have no children")
        level = LEVELS[len(path)]
        parent = self._by_path[path]
        taken = {k for n in parent.children for k in n.all_keys()}
        added: list[TaxonomyNode] = []
        for child in children:
            data = child.model_dump() if isinstance(child, TaxonomyNode) else dict(child)
            data["level"] = level
            data["children"] = _fill_levels(data.get("children", []), len(path) + 1)
            node = TaxonomyNode.model_validate(data)
            if taken & set(node.all_keys()):
                if on_duplicate == "skip":
                    continue
                if on_duplicate == "error":
                    raise ValueError(f"key {node.key!r} already exists under {PATH_SEP.join(path)}")
                node = node.model_copy(update={"key": slugify(node.key, taken), "aliases": []})
            taken.update(node.all_keys())
            added.append(node)
        roots = _replace(self.roots, path, lambda n: [*n.children, *added])
        return Taxonomy(
            name=self.name,
            title=self.title,
            source=self.source,
            license=self.license,
            levels=self.levels,
            roots=roots,
        )

    # -- YAML ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The YAML form: defaults and levels left out, so files stay short."""
        data: dict[str, Any] = {"name": self.name}
        for field in ("title", "source", "license"):
            if getattr(self, field):
                data[field] = getattr(self, field)
        if self.levels is not None:
            data["levels"] = list(self.levels)
        data["nodes"] = [_node_dict(n) for n in self.roots]
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    @classmethod
    def from_yaml(cls, text: str, *, file: str | Path | None = None) -> Taxonomy:
        """Parse and check; any problem is a one-line ConfigError naming the field."""
        where = str(file) if file is not None else "<taxonomy>"
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(
                str(problem), file=where, field=at, fix="correct the YAML syntax"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"the top level is {'empty' if data is None else type(data).__name__}, "
                "not a mapping",
                file=where,
                fix="write name: and nodes: (see docs/taxonomies.md)",
            )
        return cls.from_dict(data, file=where)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, file: str | None = None) -> Taxonomy:
        shape = validate(_TaxonomyShape, data, file=file)
        for problem in tree_problems(shape):
            raise ConfigError(problem.message, file=file, field=problem.field, fix=problem.fix)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:  # pragma: no cover - the shape check catches it first
            raise ConfigError(str(exc.errors()[0]["msg"]), file=file) from None

    @classmethod
    def from_file(cls, path: str | Path) -> Taxonomy:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                "taxonomy file not found",
                file=path,
                fix="check the path, or name a built-in (sagert taxonomy list)",
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8 text", file=path, fix="save the file as UTF-8") from None
        return cls.from_yaml(text, file=path)


def walk_fields(
    nodes: list[TaxonomyNode], field: str = "nodes", prefix: NodePath = ()
) -> Iterator[tuple[str, NodePath, TaxonomyNode]]:
    """Like Taxonomy.walk, with each node's field path in the YAML (for error messages)."""
    for i, node in enumerate(nodes):
        here, path = f"{field}[{i}]", (*prefix, node.key)
        yield here, path, node
        yield from walk_fields(node.children, f"{here}.children", path)


def _node_dict(node: TaxonomyNode) -> dict[str, Any]:
    data: dict[str, Any] = {"key": node.key, "name": node.name}
    if node.prompt_name is not None:
        data["prompt_name"] = node.prompt_name
    data["description"] = node.description
    if node.aliases:
        data["aliases"] = list(node.aliases)
    if node.maps_to:
        data["maps_to"] = {k: list(v) for k, v in node.maps_to.items()}
    if node.children:
        data["children"] = [_node_dict(c) for c in node.children]
    return data


def _replace(
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
            inner = _replace(node.children, path[1:], children)
            out.append(node.model_copy(update={"children": inner}))
    return out
