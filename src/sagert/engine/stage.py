"""The Stage contract and the stage registry: what a pipeline is made of.

A stage reads records and writes records. Most do it one input at a time (`RecordStage`:
`run_stage` gives them concurrency, resume and failures as records); a few must see the whole
stream (`StreamStage`: dedup compares every prompt with every other, expand works level by
level, sample makes the records the pipeline starts from). Both declare what fields they need
and make, so a pipeline is checked before any model call, and both take their name from their
registration, so a third-party stage is put in a pipeline by the name it registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from sagert.core.registry import Registry
from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory
from sagert.engine.summary import StageSummary
from sagert.store.records import Record

if TYPE_CHECKING:
    from sagert.settings.run import RunConfig


class Stage(Protocol):
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]]
    makes: ClassVar[tuple[str, ...]]
    Settings: ClassVar[type[BaseModel]]
    """Its section of the config: `stages.<name>` (or `section`, when a stage shares one)."""

    @property
    def settings(self) -> Any: ...

    def spec(self) -> dict[str, Any]:
        """Settings that shaped this stage's output, for the manifest."""
        ...

    def roles(self) -> tuple[str, ...]:
        """Model roles this stage calls: built before any record, so a bad config fails fast."""
        ...


@runtime_checkable
class RecordStage(Stage, Protocol):
    async def process(self, record: Record, ctx: RunContext) -> list[Record]: ...


@runtime_checkable
class StreamStage(Stage, Protocol):
    async def run_stream(
        self,
        inputs: Iterator[Record],
        total: int | None,
        ctx: RunContext,
        progress: ProgressFactory,
    ) -> list[StageSummary]: ...

    def outputs(self, ctx: RunContext) -> tuple[Iterator[Record], int | None]:
        """What the next stage reads, and how many (None: unknown)."""
        ...


class StageRegistry(Registry[type[Any]]):
    """Stage classes by name; registering a class gives it that name."""

    def add(self, name: str, obj: type[Any], description: str = "") -> None:
        super().add(name, obj, description)
        obj.name = name


stages = StageRegistry("stage")


def settings_of(cls: type[Any], config: RunConfig) -> BaseModel:
    """The stage's settings from `stages.<section>`: a built-in section, or a plugin's own."""
    from sagert.core.validation import validate

    section: str = getattr(cls, "section", cls.name)
    schema: type[BaseModel] = cls.Settings
    value = getattr(config.stages, section, None)
    if value is None:
        value = (config.stages.model_extra or {}).get(section, {})
    if isinstance(value, schema):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return validate(schema, value, prefix=f"stages.{section}")


def build(cls: type[Any], config: RunConfig) -> Stage:
    """A stage from the config: `cls.from_config(config)` when it has one, else `cls(settings)`."""
    factory = getattr(cls, "from_config", None)
    stage: Stage = factory(config) if factory is not None else cls(settings_of(cls, config))
    return stage


def is_active(stage: Stage) -> bool:
    """A stage configured to do nothing (evolve with 0 rounds...) is left out of a run."""
    active = getattr(stage, "active", None)
    return bool(active()) if callable(active) else True
