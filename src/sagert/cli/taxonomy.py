"""`sagert taxonomy list|show|expand`: the built-ins, one as a tree or YAML, an expansion.

Node text may come from an LLM (expanded taxonomies), so it is printed as rich Text objects with
control characters removed, never as markup.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from sagert.cli.progress import stage_progress
from sagert.core.terminal import plain
from sagert.settings.run import load_config
from sagert.taxonomy import LEVELS, Taxonomy, TaxonomyNode
from sagert.taxonomy.builtin import load_taxonomy, taxonomies
from sagert.workflows import taxonomy as workflow

taxonomy_app = typer.Typer(
    help="Harm taxonomies: the built-ins and your own YAML files.", no_args_is_help=True
)


class ShowFormat(StrEnum):
    tree = "tree"
    yaml = "yaml"


def _console() -> Console:
    # Piped output is read by programs and tests: do not wrap at 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


@taxonomy_app.command("list")
def list_taxonomies() -> None:
    """The built-in taxonomies with their node counts per level."""
    table = Table("name", "title", *LEVELS, title="taxonomies")
    for entry in taxonomies:
        tax = entry.obj()
        counts = tax.counts()
        table.add_row(
            Text(entry.name), Text(plain(tax.title)), *(str(counts[level]) for level in LEVELS)
        )
    _console().print(table)


def _label(node: TaxonomyNode, width: int) -> Text:
    label = Text()
    label.append(plain(node.key), style="bold")
    label.append("  ")
    label.append(plain(node.name))
    if node.aliases:
        label.append(f"  (also {', '.join(plain(a) for a in node.aliases)})", style="dim")
    label.append("\n")
    label.append(plain(node.description, limit=width), style="dim")
    return label


def _tree(tax: Taxonomy, depth: int | None) -> Tree:
    title = Text(plain(tax.name), style="bold")
    if tax.title:
        title.append(f"  {plain(tax.title)}")
    root = Tree(title)

    def add(parent: Tree, nodes: list[TaxonomyNode], level: int) -> None:
        if depth is not None and level >= depth:
            return
        for node in nodes:
            add(parent.add(_label(node, 160)), node.children, level + 1)

    add(root, tax.roots, 0)
    return root


@taxonomy_app.command("show")
def show(
    name_or_path: str = typer.Argument(..., help="A built-in name or a taxonomy YAML file."),
    depth: int | None = typer.Option(None, "--depth", "-d", min=1, help="Levels to show."),
    fmt: ShowFormat = typer.Option(ShowFormat.tree, "--format", "-f", help="tree or yaml."),
) -> None:
    """Print a taxonomy as a tree, or as YAML to start your own file from."""
    tax = load_taxonomy(name_or_path)
    if fmt is ShowFormat.yaml:
        typer.echo(plain(tax.to_yaml()), nl=False)
        return
    console = _console()
    console.print(_tree(tax, depth))
    counts = ", ".join(f"{n} {level}" for level, n in tax.counts().items() if n)
    console.print(Text(counts, style="dim"))


@taxonomy_app.command("expand")
def expand(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Also write the tree here (a taxonomy file for other configs)."
    ),
) -> None:
    """Expand the config's taxonomy with the generator; re-running resumes."""
    tree, path = workflow.expand(load_config(config), progress=stage_progress, out=out)
    counts = ", ".join(f"{level}: {n}" for level, n in tree.counts().items())
    Console().print(Text(f"{path}  ({counts})"))
    if out is not None:
        Console().print(Text(f"{out}  (use it as taxonomy: {out}, with expand: {{depth: 0}})"))
