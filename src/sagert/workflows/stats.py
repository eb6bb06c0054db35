"""`sagert stats`: diversity and coverage of a run's prompts, or of any prompt dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sagert.core.errors import UserError
from sagert.diversity.sources import open_source, split_column

if TYPE_CHECKING:
    from sagert.diversity.metrics import DiversityReport


def run(
    source: Path,
    *,
    compare: list[Path] | None = None,
    column: str = "prompt",
    stage: str | None = None,
    sample: int = 500,
    k: int = 1,
    embeddings: bool = False,
    seed: int = 0,
) -> list[DiversityReport]:
    """One report per source (the first, then each `compare`; `PATH:COLUMN` picks a column)."""
    # Imported here: numpy and sacrebleu would slow every other `sagert` command's start.
    from sagert.diversity.embeddings import Encoder, load_encoder
    from sagert.diversity.metrics import diversity_report

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
    return reports
