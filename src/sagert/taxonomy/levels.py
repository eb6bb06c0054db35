"""The four taxonomy levels and the path types built on them (what a Record stores)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

Level = Literal["macro", "sub", "leaf", "topic"]
LEVELS: tuple[Level, ...] = ("macro", "sub", "leaf", "topic")
NodePath = tuple[str, ...]
"""Keys from a macro node down to a node, e.g. ("crime", "crime_cyber")."""

PATH_SEP = "/"


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
