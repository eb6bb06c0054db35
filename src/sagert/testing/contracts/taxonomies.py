"""The taxonomy contract: a cited, well-formed tree whose YAML form round-trips."""

from __future__ import annotations

from sagert.core.errors import ConfigError
from sagert.taxonomy import LEVELS, Taxonomy, taxonomies
from sagert.taxonomy.builtin import check_maps_to
from sagert.testing.contracts.base import ContractError, require


def check_taxonomy(name: str) -> None:
    """Check the registered taxonomy `name`; ContractError if it breaks the contract."""
    who = f"taxonomy {name!r}"
    require(
        name in taxonomies,
        who,
        f"is not registered: taxonomies.add({name!r}, load_function, 'one line')",
    )
    tax = taxonomies.get(name)()
    require(isinstance(tax, Taxonomy), who, f"the factory returned {type(tax).__name__}")
    require(tax.name == name, who, f"the tree is named {tax.name!r}")
    require(tax.title and tax.source and tax.license, who, "needs a title, a source and a license")
    nodes = list(tax.walk())
    require(nodes, who, "has no nodes")
    for path, node in nodes:
        at = f"{who}, node {'/'.join(path)}"
        require(node.description.strip(), at, "has no description")
        require(node.name.strip(), at, "has no name")
        require(node.level == LEVELS[len(path) - 1], at, f"level {node.level!r} is not its depth")
        sibling_keys = [k for child in node.children for k in child.all_keys()]
        require(len(sibling_keys) == len(set(sibling_keys)), at, "two children share a key")
        require(tax.resolve(path) == path, at, "does not resolve to its own path")
        require(tax.find(path) is node, at, "find() gives another node")
    root_keys = [k for root in tax.roots for k in root.all_keys()]
    require(len(root_keys) == len(set(root_keys)), who, "two macro nodes share a key")
    text = tax.to_yaml()
    again = Taxonomy.from_yaml(text)
    require(again == tax, who, "its YAML form loads back as another tree")
    require(again.to_yaml() == text, who, "its YAML form is not stable")
    counts = tax.counts()
    require(list(counts) == list(LEVELS), who, f"counts() keys are {list(counts)}")
    require(sum(counts.values()) == len(nodes), who, "counts() do not add up to the nodes")
    require(counts["macro"] == len(tax.roots), who, "counts()['macro'] is not the roots")
    try:
        check_maps_to(tax, file=name)
    except ConfigError as exc:
        raise ContractError(f"{who}: {exc.one_line()}") from None
