"""`sagert stats SOURCE`: diversity and coverage of prompts, side by side with --compare."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.text import Text

from sagert.cli.console import console
from sagert.diversity.sources import RUN_STAGES
from sagert.workflows import stats as workflow

FACETS = ("leaves", "formats", "personas", "attacks")


def stats(
    source: Path = typer.Argument(
        ...,
        help="A run directory (runs/NAME) or a prompt file: JSONL, CSV, TSV, TXT or Parquet.",
        show_default=False,
    ),
    column: str = typer.Option(
        "prompt", "--column", help="The prompt column of a file (run directories ignore it)."
    ),
    stage: str | None = typer.Option(
        None,
        "--stage",
        help=f"The run's stage file to read (default: the first with records of "
        f"{', '.join(RUN_STAGES)}).",
    ),
    sample: int = typer.Option(
        500, "--sample", min=2, help="Prompts in the seeded sample for self-BLEU and embeddings."
    ),
    k: int = typer.Option(1, "--k", min=1, help="A leaf is covered with at least k prompts."),
    embeddings: bool = typer.Option(
        False, "--embeddings", help="Also the embedding dispersion (pip install 'sagert\\[embed]')."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample."),
    top: int = typer.Option(10, "--top", min=1, help="Rows per count table."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the reports (a JSON list) to this file."
    ),
    compare: list[Path] | None = typer.Option(
        None,
        "--compare",
        help="Another source to show side by side (repeat for more); PATH:COLUMN picks its column.",
    ),
) -> None:
    """Diversity (distinct-n, self-BLEU, embeddings) and taxonomy coverage of prompts."""
    from sagert.diversity.metrics import counts_table, report_table

    reports = workflow.run(
        source,
        compare=compare,
        column=column,
        stage=stage,
        sample=sample,
        k=k,
        embeddings=embeddings,
        seed=seed,
    )
    out = console()
    out.print(report_table(reports, top=3))
    if len(reports) == 1:
        for facet in FACETS:
            table = counts_table(reports[0], facet, top=top)
            if table is not None:
                out.print(table)
    if json_out is not None:
        data = [r.model_dump(mode="json") for r in reports]
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
        out.print(Text(f"wrote {json_out}"))
