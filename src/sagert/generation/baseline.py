"""The naive baseline: the same generator and call budget, one fixed instruction per category.

SAGE-RT claims its process (expansion, formats, raw text, evolution) avoids the mode collapse of
naive generation; `sagert stats` of the two runs side by side measures that claim on the same
model and budget.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sagert.context import RunContext
from sagert.errors import UserError
from sagert.generation.expand import taxonomy_path, walk_leaves
from sagert.generation.seeds import record_seed
from sagert.models.model import ModelCallError
from sagert.models.types import GenerateConfig, Message
from sagert.pipeline import stages
from sagert.store.records import Record, stable_id
from sagert.taxonomy import Taxonomy

BASELINE_STAGES = ("raw_text", "extract", "evolve", "attack", "expand")


def generator_calls(run_dir: Path) -> int:
    """Generator calls the SAGE run spent on its generation stages (retries included)."""
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise UserError("no finished run to match", file=path, fix="run sagert generate first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    total = 0
    for name, stage in manifest.get("stages", {}).items():
        if name not in BASELINE_STAGES:
            continue
        for stats in stage.get("calls", {}).values():
            if "generator" in stats.get("roles", []):
                total += int(stats.get("calls", 0))
    return total


def baseline_sources(tree: Taxonomy, budget: int) -> Iterator[Record]:
    """Call i asks about category i mod n: every category gets its share of the budget."""
    leaves = list(walk_leaves(tree.model_dump(mode="json")["roots"]))
    for i in range(budget):
        leaf = leaves[i % len(leaves)]
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
    name: ClassVar[str] = "baseline"
    needs: ClassVar[tuple[str, ...]] = ("meta.category",)
    makes: ClassVar[tuple[str, ...]] = ("prompt",)

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
        text = out.text.strip()
        if not text:
            return [record.failed(self.name, "empty answer", [out.text], 1)]
        return [
            record.child(
                self.name, prompt=text, seed_prompt=text, meta={**record.meta, "attack": "none"}
            )
        ]
