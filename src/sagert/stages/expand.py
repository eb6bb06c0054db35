"""Topic expansion: the generator splits frontier nodes into children, one level per round.

Each expanded node is one record in `stages/expand.jsonl`, so a re-run redoes no finished node;
the tree is rebuilt from the base taxonomy plus those records and saved as `taxonomy.yaml`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from sagert.core.ids import stable_id
from sagert.core.refusals import refusal_marker
from sagert.core.seeds import record_rng, record_seed
from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.runner import run_stage
from sagert.engine.stage import stages
from sagert.engine.summary import StageSummary
from sagert.generation.similarity import drop_near_duplicates
from sagert.models.structured import generate_structured
from sagert.models.types import GenerateConfig, Message
from sagert.settings.stages import ExpandStage
from sagert.stages.expand_tree import NearDuplicatePruner, Pruned, build_tree, pruner_for
from sagert.store.jsonl import read_records
from sagert.store.records import Record
from sagert.taxonomy import Taxonomy, load_taxonomy, slugify
from sagert.taxonomy.walk import Frontier, taxonomy_path, walk_leaves, walk_nodes


class _Child(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=1000)


class _Children(BaseModel):
    children: list[_Child] = Field(min_length=1)


@stages.register("expand", "The generator splits taxonomy nodes into more specific children.")
@dataclass
class Expand:
    """One record per expanded node (`process`); `run_stream` drives the rounds, level by level."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("taxonomy",)
    makes: ClassVar[tuple[str, ...]] = ("taxonomy", "meta.children")
    Settings: ClassVar[type[BaseModel]] = ExpandStage

    settings: ExpandStage
    taxonomy_title: str = ""

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    async def run_stream(
        self,
        inputs: Iterator[Record],
        total: int | None,
        ctx: RunContext,
        progress: ProgressFactory,
    ) -> list[StageSummary]:
        _, summaries = await expand_taxonomy(ctx, self.settings, progress)
        return summaries

    def outputs(self, ctx: RunContext) -> tuple[Iterator[Record], int | None]:
        """Nothing flows on as records: the next stage reads the expanded tree."""
        return iter(()), 0

    def roles(self) -> tuple[str, ...]:
        return ("generator",)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        chain = record.meta["chain"]
        existing = record.meta.get("existing", [])
        breadth = int(record.meta.get("breadth") or self.settings.breadth_at(0))
        framings = EXPAND_FRAMINGS if self.settings.reframe else EXPAND_FRAMINGS[:1]
        raw: list[str] = []
        attempts = refusals = 0
        why = "no answer"
        for n, framing in enumerate(framings):
            prompt = ctx.templates.render(
                framing,
                taxonomy=self.taxonomy_title,
                path=chain,
                level=record.meta["child_level"],
                breadth=breadth,
                existing=existing,
                domain=ctx.config.domain,
            )
            purpose = self.name if n == 0 else f"{self.name}-framing-{n}"
            result = await generate_structured(
                ctx.role("generator"),
                [Message(role="user", content=prompt)],
                _Children,
                GenerateConfig(seed=record_seed(ctx.config.seed, record.id, purpose)),
            )
            raw += result.raw
            attempts += result.attempts
            if result.value is None:
                why = result.error or "no answer"
                if not any(refusal_marker(text) for text in result.raw):
                    break  # malformed, not refused: another framing would not help
                refusals, why = refusals + 1, f"the generator refused ({why})"
                continue
            proposed = [c for c in result.value.children if not refusal_marker(c.name)]
            if not proposed:
                refusals, why = refusals + 1, "every proposed child was a refusal"
                continue
            children, dropped = self._children(record, proposed, existing, breadth)
            if not children:
                why = "every proposed child duplicated another"
                break
            meta = {
                **record.meta,
                "children": children,
                "dropped_duplicates": dropped,
                "framing": framing.rsplit("/", 1)[-1].removesuffix(".j2"),
                "refusals": refusals,
            }
            return [record.child(self.name, meta=meta)]
        return [record.failed(self.name, why, raw, attempts)]

    def _children(
        self, record: Record, proposed: list[_Child], existing: list[str], breadth: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        names = [c.name.strip() for c in proposed]
        parent_names = [n["name"] for n in record.meta["chain"]]
        kept, dropped = drop_near_duplicates(
            names, self.settings.similarity, existing=existing + parent_names[-1:]
        )
        children = []
        keys: set[str] = set()
        for i in kept[:breadth]:
            key = _unique(slugify(names[i]), keys)
            children.append(
                {
                    "key": key,
                    "name": names[i],
                    "description": proposed[i].description.strip() or names[i],
                    "level": record.meta["child_level"],
                }
            )
        return children, [{"name": names[i], "duplicates": d} for i, d in dropped]


EXPAND_FRAMINGS = ("generation/expand.j2", "generation/expand_reframed.j2")
"""The expansion prompt, and the second framing asked after a refusal."""


def _unique(key: str, taken: set[str]) -> str:
    candidate, n = key or "node", 2
    while candidate in taken:
        candidate, n = f"{key}_{n}", n + 1
    taken.add(candidate)
    return candidate


def node_record(taxonomy_name: str, frontier: Frontier, breadth: int) -> Record:
    chain = [
        {"key": n["key"], "name": n["name"], "description": n.get("description", "")}
        for n in frontier.chain
    ]
    return Record(
        id=stable_id("node", taxonomy_name, frontier.keys),
        stage="taxonomy",
        taxonomy=taxonomy_path(frontier.keys),
        meta={
            "chain": chain,
            "child_level": frontier.child_level,
            "path": list(frontier.keys),
            "breadth": breadth,
        },
    )


def apply_expansions(base: Taxonomy, records: list[Record]) -> Taxonomy:
    """The base tree plus every recorded expansion (shallow paths first), nothing pruned."""
    return build_tree(base, records)[0]


async def expand_taxonomy(
    ctx: RunContext,
    settings: ExpandStage,
    progress: ProgressFactory = no_progress,
) -> tuple[Taxonomy, list[StageSummary]]:
    """Expand `settings.depth` levels; resumable; writes runs/<name>/taxonomy.yaml."""
    base = load_taxonomy(ctx.config.taxonomy)
    stage = Expand(settings, taxonomy_title=base.title or base.name)
    expand_file = ctx.store.paths.stage(stage.name)
    prune = pruner_for(settings) if settings.depth else None
    tree, pruned = build_tree(base, list(read_records(expand_file)), prune)
    summaries = []
    base_leaves = _leaves(base)
    base_depth = max(len(f.chain) for f in base_leaves)
    for round_no in range(settings.depth):
        # Candidates do not depend on progress, so sampling picks the same nodes on resume:
        # round 0 takes the base's leaves, later rounds every node the rounds before made.
        if round_no == 0:
            candidates = base_leaves
        else:
            depth = base_depth + round_no
            candidates = [f for f in _nodes(tree) if len(f.chain) == depth]
        frontier = [f for f in candidates if f.child_level is not None]
        if not frontier:
            break
        if settings.max_nodes_per_round and len(frontier) > settings.max_nodes_per_round:
            rng = record_rng(ctx.config.seed, base.name, f"expand-round-{round_no}")
            picked = sorted(rng.sample(range(len(frontier)), settings.max_nodes_per_round))
            frontier = [frontier[i] for i in picked]
        breadth = settings.breadth_at(round_no)
        inputs = [node_record(base.name, f, breadth) for f in frontier]
        with progress(f"expand (round {round_no + 1})", len(inputs)) as advance:
            summaries.append(
                await run_stage(
                    stage, inputs, ctx, concurrency=settings.concurrency, on_progress=advance
                )
            )
        tree, pruned = build_tree(base, list(read_records(expand_file)), prune)
        if summaries[-1].stopped:
            return tree, summaries  # a budget stopped the round: no taxonomy.yaml of half a tree
    if prune is not None and summaries:
        ctx.store.annotate_stage(stage.name, {"near_duplicates": _pruned_figures(prune, pruned)})
    ctx.store.write_text(ctx.store.paths.taxonomy, tree.to_yaml())
    return tree, summaries


def _pruned_figures(prune: NearDuplicatePruner, pruned: list[Pruned]) -> dict[str, Any]:
    relations = [p["relation"] for p in pruned]
    return {
        "method": prune.method,
        "pruned": len(pruned),
        "siblings": relations.count("sibling"),
        "cousins": relations.count("cousin"),
        "nodes": pruned,
    }


def _leaves(tree: Taxonomy) -> list[Frontier]:
    return list(walk_leaves(tree.model_dump(mode="json")["roots"]))


def _nodes(tree: Taxonomy) -> list[Frontier]:
    return list(walk_nodes(tree.model_dump(mode="json")["roots"]))
