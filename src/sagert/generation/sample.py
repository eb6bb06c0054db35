"""Factor sampling (AART, Instruct-SkillMix): topic x format x persona x tactic x region.

Leaves take turns, so every leaf gets its share (`per_leaf`, or n_samples spread evenly);
formats, personas, tactics and regions come from shuffled bags, so each is used evenly and none
is tied to a leaf. With `factors_per_sample: k` (Instruct-SkillMix) each sample is conditioned
on k of the factor kinds only, the k-combinations taking turns from a bag of their own, so
pairs of factors, not single ones, vary from prompt to prompt; a sample that draws no format
gets `free_text`. Seeded and prefix-stable: raising n_samples keeps the samples already made.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import TypeVar

from sagert.core.ids import stable_id
from sagert.generation.formats import TaskFormat, load_custom_formats, resolve_formats
from sagert.generation.personas import BUILTIN_PERSONAS
from sagert.generation.tactics import BUILTIN_TACTICS
from sagert.settings.stages import FactorKind, SampleStage
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


FREE_TEXT = TaskFormat(
    name="free_text", description="a short piece of text in whatever form suits the writer"
)
"""The format of a sample whose factors do not include one (Instruct-SkillMix mode)."""


def sample_count(tree: Taxonomy, settings: SampleStage) -> int:
    """n_samples, or per_leaf samples for every leaf category of the tree."""
    if settings.per_leaf is None:
        return settings.n_samples
    return settings.per_leaf * len(leaf_groups(_leaves(tree)))


def sample_records(tree: Taxonomy, settings: SampleStage, seed: int) -> Iterator[Record]:
    custom = load_custom_formats(settings.custom_formats) if settings.custom_formats else []
    formats: list[TaskFormat] = resolve_formats(settings.formats, custom)
    personas: list[str | None] = list(
        BUILTIN_PERSONAS if settings.personas is None else settings.personas
    ) or [None]
    regions: list[str | None] = list(settings.regions) or [None]
    tactics: list[str | None] = list(
        BUILTIN_TACTICS if settings.tactics is None else settings.tactics
    ) or [None]
    groups = leaf_groups(_leaves(tree))
    rng = random.Random(seed)
    rng.shuffle(groups)
    for topics in groups:
        rng.shuffle(topics)
    # The bags are seeded in this order (format, persona, region first, as before tactics and
    # combinations existed), so a config without them samples what it always did.
    format_bag = bag(formats, random.Random(rng.random()))
    persona_bag = bag(personas, random.Random(rng.random()))
    region_bag = bag(regions, random.Random(rng.random()))
    tactic_bag = bag(tactics, random.Random(rng.random()))
    kinds = _kinds(settings, personas, tactics, regions)
    combo_bag = _combinations(kinds, settings.factors_per_sample, random.Random(rng.random()))
    for i in range(sample_count(tree, settings)):
        topics = groups[i % len(groups)]
        topic = topics[(i // len(groups)) % len(topics)]
        drawn = next(combo_bag)
        fmt = next(format_bag) if "format" in drawn else FREE_TEXT
        persona = next(persona_bag) if "persona" in drawn else None
        region = next(region_bag) if "region" in drawn else None
        tactic = next(tactic_bag) if "tactic" in drawn else None
        yield _record(i, topic, fmt, persona, region, tactic, drawn)


def _kinds(
    settings: SampleStage,
    personas: list[str | None],
    tactics: list[str | None],
    regions: list[str | None],
) -> tuple[FactorKind, ...]:
    """The factor kinds that have values to draw (format always has some)."""
    values = {"persona": personas, "tactic": tactics, "region": regions}
    return tuple(dict.fromkeys(k for k in settings.factors if values.get(k) != [None]))


def _combinations(
    kinds: tuple[FactorKind, ...], k: int | None, rng: random.Random
) -> Iterator[tuple[FactorKind, ...]]:
    """Every kind on every sample (k None), else the k-combinations of kinds, taking turns."""
    if k is None or k >= len(kinds):
        while True:
            yield kinds
    yield from bag(list(combinations(kinds, k)), rng)


def _leaves(tree: Taxonomy) -> list[Frontier]:
    return list(walk_leaves(tree.model_dump(mode="json")["roots"]))


def leaf_groups(leaves: list[Frontier]) -> list[list[Frontier]]:
    """Topics grouped under their leaf category (the third level, or the node itself)."""
    groups: dict[tuple[str, ...], list[Frontier]] = {}
    for leaf in leaves:
        groups.setdefault(leaf.keys[:3], []).append(leaf)
    return list(groups.values())


def _record(
    index: int,
    topic: Frontier,
    fmt: TaskFormat,
    persona: str | None,
    region: str | None,
    tactic: str | None = None,
    factors: tuple[FactorKind, ...] = (),
) -> Record:
    node = topic.chain[-1]
    # A tactic joins the id only when drawn, so samples without one keep their old ids.
    key = (index, topic.keys, fmt.name, persona, region, *((tactic,) if tactic else ()))
    return Record(
        id=stable_id(SAMPLE_STAGE, *key),
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
            "tactic": tactic,
            "factors": list(factors),
        },
    )
