"""Factor sampling (AART, Instruct-SkillMix): topic x format x persona x region, with quotas.

Leaves take turns, so every leaf gets its share; formats, personas and regions come from
shuffled bags, so each is used evenly and none is tied to a leaf. Seeded and prefix-stable:
raising n_samples keeps the samples already made.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import TypeVar

from sagert.core.ids import stable_id
from sagert.generation.formats import TaskFormat, load_custom_formats, resolve_formats
from sagert.generation.personas import BUILTIN_PERSONAS
from sagert.settings.stages import SampleStage
from sagert.store.records import Record
from sagert.taxonomy import Taxonomy
from sagert.taxonomy.walk import Frontier, taxonomy_path, walk_leaves

T = TypeVar("T")
SAMPLE_STAGE = "sample"


def bag(items: Sequence[T], rng: random.Random) -> Iterator[T]:
    """Endless draws, each item once per round, rounds in fresh random orders."""
    while True:
        order = list(items)
        rng.shuffle(order)
        yield from order


def sample_records(tree: Taxonomy, settings: SampleStage, seed: int) -> Iterator[Record]:
    custom = load_custom_formats(settings.custom_formats) if settings.custom_formats else []
    formats: list[TaskFormat] = resolve_formats(settings.formats, custom)
    personas: list[str | None] = list(
        BUILTIN_PERSONAS if settings.personas is None else settings.personas
    ) or [None]
    regions: list[str | None] = list(settings.regions) or [None]
    groups = _leaf_groups(list(walk_leaves(tree.model_dump(mode="json")["roots"])))
    rng = random.Random(seed)
    rng.shuffle(groups)
    for topics in groups:
        rng.shuffle(topics)
    format_bag = bag(formats, random.Random(rng.random()))
    persona_bag = bag(personas, random.Random(rng.random()))
    region_bag = bag(regions, random.Random(rng.random()))
    for i in range(settings.n_samples):
        topics = groups[i % len(groups)]
        topic = topics[(i // len(groups)) % len(topics)]
        fmt, persona, region = next(format_bag), next(persona_bag), next(region_bag)
        yield _record(i, topic, fmt, persona, region)


def _leaf_groups(leaves: list[Frontier]) -> list[list[Frontier]]:
    """Topics grouped under their leaf category (the third level, or the node itself)."""
    groups: dict[tuple[str, ...], list[Frontier]] = {}
    for leaf in leaves:
        groups.setdefault(leaf.keys[:3], []).append(leaf)
    return list(groups.values())


def _record(
    index: int, topic: Frontier, fmt: TaskFormat, persona: str | None, region: str | None
) -> Record:
    node = topic.chain[-1]
    return Record(
        id=stable_id(SAMPLE_STAGE, index, topic.keys, fmt.name, persona, region),
        stage=SAMPLE_STAGE,
        taxonomy=taxonomy_path(topic.keys),
        format=fmt.name,
        persona=persona,
        meta={
            "sample": index,
            "topic": node["name"],
            "topic_description": node.get("description", ""),
            "category_path": " > ".join(n["name"] for n in topic.chain),
            "format_description": fmt.description,
            "region": region,
        },
    )
