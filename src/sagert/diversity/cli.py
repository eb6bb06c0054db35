"""`sagert stats`: diversity and coverage of a run's prompts, or of any prompt dataset.

Mounted by the main app with `app.command("stats")(stats)`; a plain function so tests can
mount it on their own small app.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from sagert.diversity.sources import RUN_STAGES, open_source, split_column
from sagert.errors import UserError

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
        False, "--embeddings", help="Also the embedding dispersion (pip install 'sagert[embed]')."
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
    # Imported here: numpy and sacrebleu would slow every other `sagert` command's start.
    from sagert.diversity.embeddings import Encoder, load_encoder
    from sagert.diversity.metrics import (
        DiversityReport,
        counts_table,
        diversity_report,
        report_table,
    )

    encoder: Encoder | None = load_encoder() if embeddings else None
    specs = [(source, None), *(split_column(str(p)) for p in compare or [])]
    reports: list[DiversityReport] = []
    for path, own_column in specs:
        src = open_source(path, column=own_column or column, stage=stage)
        reports.append(
            diversity_report(
                src.records(),
                source=src.label,
                field=src.field,
                sample=sample,
                seed=seed,
                k=k,
                expected_leaves=src.expected_leaves,
                encoder=encoder,
            )
        )
    empty = [r.source for r in reports if r.prompts == 0]
    if empty:
        raise UserError("no prompts to measure", file=empty[0], fix="check the file or --stage")
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    console.print(report_table(reports, top=3))
    if len(reports) == 1:
        for facet in FACETS:
            table = counts_table(reports[0], facet, top=top)
            if table is not None:
                console.print(table)
    if json_out is not None:
        data = [r.model_dump(mode="json") for r in reports]
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
        console.print(Text(f"wrote {json_out}"))
