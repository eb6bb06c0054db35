"""Harm taxonomies: the tree type, the built-ins (ALERT, Llama Guard 3, SAGE, HarmBench,
JailbreakBench), user YAML files, and mapping categories between taxonomies."""

from sagert.taxonomy.builtin import load_taxonomy, taxonomies
from sagert.taxonomy.keys import slugify
from sagert.taxonomy.levels import LEVELS, Level, LevelPath, NodePath
from sagert.taxonomy.mapping import map_keys, map_paths, matches
from sagert.taxonomy.node import TaxonomyNode
from sagert.taxonomy.tree import Taxonomy

__all__ = [
    "LEVELS",
    "Level",
    "LevelPath",
    "NodePath",
    "Taxonomy",
    "TaxonomyNode",
    "load_taxonomy",
    "map_keys",
    "map_paths",
    "matches",
    "slugify",
    "taxonomies",
]
