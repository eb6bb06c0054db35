"""The Stage contract and the stage registry: what a pipeline is made of."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from sagert.core.registry import Registry
from sagert.engine.context import RunContext
from sagert.store.records import Record


class Stage(Protocol):
    """Reads records, writes records; declares what it needs and makes, so a pipeline checks."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]]
    makes: ClassVar[tuple[str, ...]]

    async def process(self, record: Record, ctx: RunContext) -> list[Record]: ...

    def spec(self) -> dict[str, Any]:
        """Settings that shaped this stage's output, for the manifest."""
        ...

    def roles(self) -> tuple[str, ...]:
        """Model roles this stage calls: built before any record, so a bad config fails fast."""
        ...


stages: Registry[type[Stage]] = Registry("stage")
