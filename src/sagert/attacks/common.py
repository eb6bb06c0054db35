"""Base classes and registration decorators shared by every attack style and operator.

A transform class declares `name`, `kind`, `deterministic` and `description` as class
attributes; `@attack` / `@operator` register it under its own `name`, so the registered name
and the class attribute can never disagree.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from sagert.attacks.base import Transform, TransformKind, attacks, operators

T = TypeVar("T", bound=Transform)


class AttackStyle:
    """A deterministic attack style; subclasses set `name`, `description` and `apply`."""

    name: ClassVar[str]
    kind: ClassVar[TransformKind] = "attack"
    deterministic: ClassVar[bool] = True
    description: ClassVar[str]


def attack(cls: type[T]) -> type[T]:
    """Register an attack style under `cls.name`."""
    if cls.kind != "attack":
        raise TypeError(f"{cls.__name__} has kind {cls.kind!r}, not 'attack'")
    attacks.add(cls.name, cls, cls.description)
    return cls


def operator(cls: type[T]) -> type[T]:
    """Register a query-evolution operator under `cls.name`."""
    if cls.kind != "evolution":
        raise TypeError(f"{cls.__name__} has kind {cls.kind!r}, not 'evolution'")
    operators.add(cls.name, cls, cls.description)
    return cls
