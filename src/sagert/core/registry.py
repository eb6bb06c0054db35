"""Named plugins by kind, so configs, `sagert list` and entry points resolve names one way.

Third-party plugins are modules named in the `sagert.plugins` entry-point group; importing one
runs its registration decorators. The CLI loads them at start; a Python user who never runs the
CLI gets them on the first name a registry does not know. A plugin that fails to import is
logged and skipped: one broken package must not take every command down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from sagert.core.errors import UserError

T = TypeVar("T")

ENTRY_POINT_GROUP = "sagert.plugins"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    description: str


class Registry(Generic[T]):
    """Plugins of one kind (providers, stages, judges...), registered by decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, description: str = "") -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj, description)
            return obj

        return decorator

    def add(self, name: str, obj: T, description: str = "") -> None:
        if name in self._entries and self._entries[name].obj is not obj:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        doc = description or (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
        self._entries[name] = Entry(name, obj, doc)

    def get(self, name: str) -> T:
        if self._find(name):
            return self._entries[name].obj
        known = ", ".join(sorted(self._entries)) or "none"
        raise UserError(f"unknown {self.kind} {name!r}", fix=f"use one of: {known}")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name)

    def _find(self, name: str) -> bool:
        """Whether `name` is registered, loading the entry-point plugins on a first miss."""
        if name not in self._entries and not _state.scanned:
            load_entry_point_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def snapshot(self) -> dict[str, Entry[T]]:
        """The entries as they are now, for `restore` (tests that register throwaway plugins)."""
        return dict(self._entries)

    def restore(self, snapshot: Mapping[str, Entry[T]]) -> None:
        """Put back the entries of a `snapshot`: registrations made since are forgotten."""
        self._entries = dict(snapshot)


@dataclass
class _EntryPointState:
    scanned: bool = False
    """Whether the entry points were loaded in this process (by the CLI or a registry miss)."""
    outcomes: dict[str, bool] = field(default_factory=dict)
    """`name = value` of each entry point tried -> whether it imported (each is tried once)."""


_state = _EntryPointState()


def load_entry_point_plugins() -> list[str]:
    """Import third-party plugin modules (their decorators register them); the names loaded.

    Each entry point is tried once per process: one that fails logs a warning naming it and
    the error, and the others still load.
    """
    _state.scanned = True  # first, so a plugin that looks a name up while importing cannot recurse
    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        key = f"{ep.name} = {ep.value}"
        if key not in _state.outcomes:
            _state.outcomes[key] = False
            try:
                ep.load()
            except Exception as exc:  # a plugin's own bug: skip it, keep sagert running
                log.warning(
                    "plugin %r (entry point %s in group %s) failed to load and is skipped: %s: %s",
                    ep.name,
                    key,
                    ENTRY_POINT_GROUP,
                    type(exc).__name__,
                    exc,
                )
                continue
            _state.outcomes[key] = True
        if _state.outcomes[key]:
            loaded.append(ep.name)
    return loaded
