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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError, model_validator

from sagert.core.errors import ConfigError, UserError
from sagert.core.validation import validate
from sagert.taxonomy.keys import slugify
from sagert.taxonomy.levels import LEVELS, PATH_SEP, Level, LevelPath, NodePath
from sagert.taxonomy.node import TaxonomyNode, fill_levels, node_dict, replace_children
from sagert.taxonomy.shape import TaxonomyShape, tree_problems


class Taxonomy(TaxonomyShape):
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
            data["children"] = fill_levels(data.get("children", []), len(path) + 1)
            node = TaxonomyNode.model_validate(data)
            if taken & set(node.all_keys()):
                if on_duplicate == "skip":
                    continue
                if on_duplicate == "error":
                    raise ValueError(f"key {node.key!r} already exists under {PATH_SEP.join(path)}")
                node = node.model_copy(update={"key": slugify(node.key, taken), "aliases": []})
            taken.update(node.all_keys())
            added.append(node)
        roots = replace_children(self.roots, path, lambda n: [*n.children, *added])
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
        data["nodes"] = [node_dict(n) for n in self.roots]
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
        shape = validate(TaxonomyShape, data, file=file)
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
