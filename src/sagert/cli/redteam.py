"""`sagert redteam CONFIG`: grow a MAP-Elites archive of attacks, or (`--method pair|tap|crescendo
-i PROMPTS`) attack each prompt of a file; both resumable."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from sagert.cli.console import console
from sagert.cli.progress import stage_progress
from sagert.cli.summary import print_summary
from sagert.core.errors import UserError
from sagert.report.redteam import build_redteam_report
from sagert.settings.run import load_config
from sagert.workflows import attack
from sagert.workflows import redteam as workflow

MAP_ELITES = "map-elites"


def redteam(
    config: Path = typer.Argument(
        ..., help="Run config (YAML): its redteam: section, or stages.<method> for --method."
    ),
    method: str = typer.Option(
        MAP_ELITES, help="map-elites (the archive), or pair, tap, crescendo on --input's prompts."
    ),
    input: Path | None = typer.Option(
        None, "--input", "-i", help="Goals for pair/tap/crescendo: .jsonl, .csv, .tsv or .txt."
    ),
    column: str = typer.Option("prompt", help="The prompt column or field of --input."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="pair/tap/crescendo: retry the goals that failed for good."
    ),
    iterations: int | None = typer.Option(
        None, min=1, help="Iterations at most (default: redteam.iterations)."
    ),
    report: bool = typer.Option(True, help="Write redteam.html when done (map-elites)."),
) -> None:
    """Attacker mutates elites toward (category x style) cells; the target answers; judged."""
    cfg = load_config(config)
    if method != MAP_ELITES:
        if input is None:
            raise UserError(
                f"--method {method} attacks the prompts of a file", fix="add -i PROMPTS"
            )
        done = attack.run(
            cfg, method, input, column=column, progress=stage_progress, retry_failed=retry_failed
        )
        print_summary(cfg.run_dir, [done.summary])
        console().print(
            Text(f"{method}: {done.successes} of {done.attacked} goals attacked successfully")
        )
        return
    if input is not None:
        raise UserError("-i PROMPTS is for --method pair, tap or crescendo", fix="add --method")
    result = workflow.run(cfg, iterations=iterations)
    archive = result.archive
    successes = sum(e.success for e in archive.cells.values())
    out = console()
    out.print(
        Text(
            f"{archive.iteration} iterations, {result.target_calls} target calls: "
            f"{len(archive.cells)} of {len(result.cells)} cells filled, {successes} successful"
        )
    )
    for name, path in result.paths.items():
        out.print(Text(f"{name}: {path}"), soft_wrap=True)
    if report:
        page = build_redteam_report(cfg.run_dir, [c.key for c in result.cells])
        out.print(Text(f"report: {page}"), soft_wrap=True)
