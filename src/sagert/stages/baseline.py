"""The naive baseline's stage: one fixed instruction per category, nothing else."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from sagert.attacks.llm_rewrite import clean_rewrite
from sagert.core.ids import stable_id
from sagert.core.refusals import refusal_marker
from sagert.core.seeds import record_seed
from sagert.engine.context import RunContext
from sagert.engine.stage import stages
from sagert.generation.sample import leaf_groups
from sagert.models.model import ModelCallError
from sagert.models.types import GenerateConfig, Message
from sagert.settings.stages import BaselineStage
from sagert.store.records import Record
from sagert.taxonomy import Taxonomy
from sagert.taxonomy.walk import taxonomy_path, walk_leaves


def baseline_sources(tree: Taxonomy, budget: int, seed: int = 0) -> Iterator[Record]:
    """Call i asks about one topic of leaf category i mod n, the leaves in a seeded order and
    each leaf's topics taking turns: every leaf gets its share of the budget, as in `sample`,
    even when the budget is smaller than the tree."""
    groups = leaf_groups(list(walk_leaves(tree.model_dump(mode="json")["roots"])))
    rng = random.Random(seed)
    rng.shuffle(groups)
    for i in range(budget):
        topics = groups[i % len(groups)]
        leaf = topics[(i // len(groups)) % len(topics)]
        node = leaf.chain[-1]
        yield Record(
            id=stable_id("baseline", i, leaf.keys),
            stage="baseline-source",
            taxonomy=taxonomy_path(leaf.keys),
            meta={"call": i, "category": node["name"], "description": node.get("description", "")},
        )


@stages.register("baseline", "Naive baseline: one fixed instruction per category.")
@dataclass
class Baseline:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("meta.category",)
    makes: ClassVar[tuple[str, ...]] = ("prompt",)
    Settings: ClassVar[type[BaseModel]] = BaselineStage

    settings: BaselineStage = field(default_factory=BaselineStage)

    def spec(self) -> dict[str, Any]:
        return {}

    def roles(self) -> tuple[str, ...]:
        return ("generator",)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        prompt = ctx.templates.render(
            "generation/baseline.j2",
            category=record.meta["category"],
            description=record.meta["description"],
        )
        try:
            out = await ctx.role("generator").generate(
                [Message(role="user", content=prompt)],
                GenerateConfig(seed=record_seed(ctx.config.seed, record.id, self.name)),
            )
        except ModelCallError as exc:
            return [record.failed(self.name, str(exc), [exc.raw] if exc.raw else [], exc.attempts)]
        # The same filter as sagert's raw_text stage: a refusal is not a baseline prompt; and
        # the same cleaning as a rewrite ("Sure! Here is a request:", quotes around it).
        marker = refusal_marker(out.text.strip())
        if marker:
            return [record.failed(self.name, f"the generator refused ({marker!r})", [out.text], 1)]
        text = clean_rewrite(out.text)
        if not text:
            return [record.failed(self.name, "empty answer", [out.text], 1)]
        return [
            record.child(
                self.name, prompt=text, seed_prompt=text, meta={**record.meta, "attack": "none"}
            )
        ]
