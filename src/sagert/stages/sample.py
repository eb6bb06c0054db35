"""`sample`: the records the generation starts from, made without a model call.

Topic x task format x persona x tactic x region (all of them, or k at a time), leaves taking
turns so each gets its share; seeded and prefix-stable, so nothing is written: a re-run makes
the same records again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory
from sagert.engine.stage import stages
from sagert.engine.summary import StageSummary
from sagert.generation.sample import sample_count, sample_records
from sagert.settings.stages import SampleStage
from sagert.store.records import Record
from sagert.taxonomy import Taxonomy, load_taxonomy


@stages.register("sample", "Topic x format x persona x region combinations, a quota per leaf.")
@dataclass
class Sample:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("taxonomy",)
    makes: ClassVar[tuple[str, ...]] = ("taxonomy", "format", "persona", "meta.topic")
    Settings: ClassVar[type[BaseModel]] = SampleStage

    settings: SampleStage

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")

    def roles(self) -> tuple[str, ...]:
        return ()

    async def run_stream(
        self,
        inputs: Iterator[Record],
        total: int | None,
        ctx: RunContext,
        progress: ProgressFactory,
    ) -> list[StageSummary]:
        return []

    def outputs(self, ctx: RunContext) -> tuple[Iterator[Record], int | None]:
        tree = tree_of(ctx)
        records = sample_records(tree, self.settings, ctx.config.seed)
        return records, sample_count(tree, self.settings)


def tree_of(ctx: RunContext) -> Taxonomy:
    """The run's expanded taxonomy when the expand stage wrote one, else the config's."""
    path = ctx.store.paths.taxonomy
    return Taxonomy.from_file(path) if path.is_file() else load_taxonomy(ctx.config.taxonomy)
