"""The `sagert` command: one module per command, each thin (parse, call a workflow, print).

Errors a user can fix are one line and exit code 2; a traceback only with --debug.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.logging import RichHandler
from rich.text import Text

from sagert import __version__
from sagert.cli.align import align
from sagert.cli.baseline import baseline
from sagert.cli.console import err_console
from sagert.cli.evaluate import evaluate
from sagert.cli.export import export
from sagert.cli.gc_tuning import tune_gc
from sagert.cli.generate import generate
from sagert.cli.guard_loop import guard_loop
from sagert.cli.init import init
from sagert.cli.judge_eval import judge_eval
from sagert.cli.list import list_kind
from sagert.cli.models import models_app
from sagert.cli.redteam import redteam
from sagert.cli.report import report
from sagert.cli.respond import respond
from sagert.cli.stats import stats
from sagert.cli.taxonomy import taxonomy_app
from sagert.cli.train import train
from sagert.core.errors import UserError
from sagert.core.registry import load_entry_point_plugins

EXIT_USAGE = 2

app = typer.Typer(
    name="sagert",
    help="SAGE-RT safety data: generate, judge, evaluate, align.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(init)
app.add_typer(models_app, name="models")
app.command("list")(list_kind)
app.add_typer(taxonomy_app, name="taxonomy")
app.command()(respond)
app.command()(generate)
app.command("export")(export)
app.command("baseline")(baseline)
app.command("stats")(stats)
app.command("evaluate")(evaluate)
app.command("judge-eval")(judge_eval)
app.command("report")(report)
app.command("train")(train)
app.command("align")(align)
app.command("redteam")(redteam)
app.command("guard-loop")(guard_loop)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sagert {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = RichHandler(console=err_console(), show_path=debug, markup=False)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    logging.getLogger("sagert").setLevel(level)
    load_entry_point_plugins()


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line and exit 2 for a user error, a traceback only with --debug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    tune_gc()
    try:
        app(args=args, prog_name="sagert", standalone_mode=True)
    except UserError as exc:
        if debug:
            raise
        err_console().print(Text(f"error: {exc.one_line()}"), soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        err_console().print("interrupted; re-run the same command to resume")
        sys.exit(130)
    except Exception as exc:  # a bug, not bad input: say so in one line, keep the run
        if debug:
            raise
        err_console().print(
            Text(
                f"error: internal error: {type(exc).__name__}: {exc} (re-run with --debug for"
                " the traceback, and please report it; finished records are kept)"
            ),
            soft_wrap=True,
        )
        sys.exit(1)
