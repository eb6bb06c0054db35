"""The `sagert` command. Errors a user can fix are one line and exit code 2."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from sagert import __version__
from sagert.cli.progress import stage_progress
from sagert.cli.run import open_run
from sagert.cli.tables import stages_table
from sagert.cli.taxonomy import taxonomy_app
from sagert.config import ROLES, RunConfig, load_config
from sagert.context import ModelPool
from sagert.dataset.export import EXPORT_FORMATS, export_run
from sagert.diversity.cli import stats as stats_cmd
from sagert.errors import UserError
from sagert.evaluation.cli import evaluate as evaluate_cmd
from sagert.evaluation.cli import print_summary as print_eval_summary
from sagert.evaluation.cli import with_limit
from sagert.evaluation.settings import PromptSource
from sagert.gc_tuning import tune_gc
from sagert.generation.pipeline import GENERATION_STAGES, run_generation
from sagert.models.model import ModelCallError
from sagert.models.provider import providers
from sagert.models.types import Message
from sagert.pipeline import StageSummary, run_stage, stages, total_calls
from sagert.registry import Registry, load_entry_point_plugins
from sagert.report.cli import report as report_cmd
from sagert.sources import read_prompts
from sagert.templates import Templates
from sagert.terminal import plain
from sagert.training.settings import TrainSettings
from sagert.validation import validate

if TYPE_CHECKING:
    from sagert.training.trainer import TrainResult

EXIT_USAGE = 2
LIST_KINDS = (
    "providers",
    "stages",
    "templates",
    "roles",
    "taxonomies",
    "formats",
    "attacks",
    "operators",
    "judges",
    "loaders",
)

app = typer.Typer(
    name="sagert",
    help="SAGE-RT safety data: generate, judge, evaluate, align.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(
    help="Model providers and the roles of a config.", invoke_without_command=True
)
app.add_typer(models_app, name="models")
app.add_typer(taxonomy_app, name="taxonomy")
app.command("stats")(stats_cmd)
app.command("evaluate")(evaluate_cmd)
app.command("report")(report_cmd)

ConfigOption = typer.Option(None, "--config", "-c", help="Run config (YAML); default: built-in.")


def _console() -> Console:
    # Piped output is read by programs and tests: do not wrap table cells at 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _err_console() -> Console:
    return Console(stderr=True, highlight=False)


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
    handler = RichHandler(console=_err_console(), show_path=debug, markup=False)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    logging.getLogger("sagert").setLevel(level)
    load_entry_point_plugins()


def _config(path: Path | None) -> RunConfig:
    return load_config(path) if path is not None else RunConfig()


@app.command()
def init(
    path: Path = typer.Argument(Path("sagert.yaml"), help="Where to write the config."),
    name: str | None = typer.Option(None, help="Run name (default: quickstart)."),
    force: bool = typer.Option(False, help="Overwrite an existing file."),
) -> None:
    """Write a commented starter config."""
    if path.exists() and not force:
        raise UserError(
            "file exists", file=path, fix="pass --force to overwrite, or pick a new path"
        )
    text = files("sagert").joinpath("data/starter.yaml").read_text(encoding="utf-8")
    if name:
        text = text.replace("name: quickstart", f"name: {name}", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    load_config(path)  # what we write must load
    typer.echo(f"wrote {path}")


@models_app.callback()
def models_overview(ctx: typer.Context, config: Path | None = ConfigOption) -> None:
    """Providers and the model each role uses."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = _config(config)
    console = _console()
    table = Table("provider", "description", title="providers")
    for entry in providers:
        table.add_row(entry.name, entry.description)
    console.print(table)
    roles = Table("role", "model", "base_url", "max_connections", "from", title="roles")
    for role in ROLES:
        spec = cfg.models.for_role(role)
        source = "config" if cfg.models.configured(role) else "generator"
        roles.add_row(
            role, spec.model, spec.base_url or "-", str(spec.max_connections or "default"), source
        )
    console.print(roles)


@models_app.command("test")
def models_test(
    role: str = typer.Argument(..., help=f"One of: {', '.join(ROLES)}."),
    config: Path | None = ConfigOption,
) -> None:
    """One real call to ROLE's model: prints latency, tokens and the answer."""
    cfg = _config(config)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}", fix=f"use one of: {', '.join(ROLES)}")
    prompt = Templates(cfg.templates_dir).render("models/smoke_test.j2")
    asyncio.run(_models_test(cfg, role, prompt))


async def _models_test(cfg: RunConfig, role: str, prompt: str) -> None:
    pool = ModelPool({r: cfg.models.for_role(r) for r in ROLES}, cache=None)
    try:
        model = pool.role(role)
        started = time.perf_counter()
        try:
            out = await model.generate([Message(role="user", content=prompt)], use_cache=False)
        except ModelCallError as exc:
            raise UserError(
                f"{role}: the call failed: {exc}", fix="check the model and server"
            ) from exc
        elapsed = time.perf_counter() - started
    finally:
        await pool.aclose()
    console = _console()
    console.print(Text(f"{role}: {model.spec.model}"))
    console.print(
        Text(
            f"latency {elapsed:.2f} s, prompt tokens {out.usage.prompt_tokens}, "
            f"completion tokens {out.usage.completion_tokens}, finish {out.finish_reason}"
        )
    )
    console.print(Text(plain(out.text, limit=400)))


@app.command("list")
def list_kind(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(LIST_KINDS)}."),
    config: Path | None = ConfigOption,
) -> None:
    """List registered plugins of one kind."""
    console = _console()
    if kind == "templates":
        tpl = Templates(_config(config).templates_dir)
        rows = [(name, tpl.source_of(name)) for name in tpl.names()]
    elif kind == "roles":
        rows = [(r, "") for r in ROLES]
    elif kind in LIST_KINDS:
        rows = [(e.name, e.description) for e in _registry(kind)]
    else:
        raise UserError(f"unknown kind {kind!r}", fix=f"use one of: {', '.join(LIST_KINDS)}")
    table = Table("name", "description" if kind != "templates" else "from", title=kind)
    for name, desc in rows:
        table.add_row(name, desc)
    console.print(table)


def _registry(kind: str) -> Registry[Any]:
    """Registries load lazily: importing a plugin package registers its plugins."""
    import sagert.attacks
    import sagert.judges
    import sagert.stages  # noqa: F401
    from sagert.attacks.base import attacks, operators
    from sagert.evaluation.loaders import loaders
    from sagert.generation.formats import formats
    from sagert.judges.base import judges
    from sagert.taxonomy import taxonomies

    by_kind: dict[str, Registry[Any]] = {
        "providers": providers,
        "stages": stages,
        "taxonomies": taxonomies,
        "formats": formats,
        "attacks": attacks,
        "operators": operators,
        "judges": judges,
        "loaders": loaders,
    }
    return by_kind[kind]


@app.command()
def respond(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    input: Path = typer.Option(..., "--input", "-i", help="Prompts: .jsonl, .csv, .tsv or .txt."),
    column: str = typer.Option("prompt", help="The prompt column or field."),
    role: str | None = typer.Option(None, help="Answering role (default: stages.respond.role)."),
) -> None:
    """A role answers every prompt of a file; re-running resumes."""
    import sagert.stages  # noqa: F401  (registers built-in stages)
    from sagert.stages.respond import Respond

    cfg = load_config(config)
    settings = cfg.stages.respond
    if role is not None:
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}", fix=f"use one of: {', '.join(ROLES)}")
        settings = settings.model_copy(update={"role": role})
    # One pass validates the whole file before any model call and counts it for the bar.
    total = sum(1 for _ in read_prompts(input, column))
    stage = Respond(settings)
    summary = asyncio.run(_run_one_stage(cfg, stage, input, column, total, settings.concurrency))
    _print_summary(cfg, [summary])


async def _run_one_stage(
    cfg: RunConfig, stage: Any, input: Path, column: str, total: int, concurrency: int
) -> StageSummary:
    async with open_run(cfg) as ctx:
        with stage_progress(stage.name, total) as advance:
            return await run_stage(
                stage,
                read_prompts(input, column),
                ctx,
                concurrency=concurrency,
                on_progress=advance,
            )


@app.command()
def generate(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    until: str | None = typer.Option(
        None, help=f"Stop after this stage: {', '.join(GENERATION_STAGES)}."
    ),
) -> None:
    """The SAGE pipeline from the taxonomy on; re-running resumes."""
    cfg = load_config(config)
    if until is not None and until not in GENERATION_STAGES:
        known = ", ".join(GENERATION_STAGES)
        raise UserError(f"unknown stage {until!r}", fix=f"use one of: {known}")
    summaries = asyncio.run(_generate(cfg, until))
    _print_summary(cfg, summaries)
    if until is None and cfg.export.formats:
        _export(cfg.run_dir, list(cfg.export.formats), cfg.export.conversational, None)


@app.command("export")
def export_cmd(
    run: Path = typer.Argument(..., help="A run directory (runs/NAME) or its config file."),
    format: list[str] = typer.Option(
        ["trl"], "--format", "-f", help=f"Any of: {', '.join(EXPORT_FORMATS)} (repeatable)."
    ),
    conversational: bool = typer.Option(False, help="TRL conversational format."),
    push_to_hub: str | None = typer.Option(None, help="Hub repo id; needs HF_TOKEN."),
) -> None:
    """Write the validated pairs for TRL, pandas and HF datasets, with a dataset card."""
    run_dir = load_config(run).run_dir if run.is_file() else run
    if not run_dir.is_dir():
        raise UserError("run directory not found", file=run_dir, fix="give runs/NAME or CONFIG")
    _export(run_dir, format, conversational, push_to_hub)


@app.command("baseline")
def baseline_cmd(
    config: Path = typer.Argument(..., help="The SAGE run's config."),
    calls: int | None = typer.Option(None, help="Call budget (default: what the run spent)."),
) -> None:
    """The naive baseline on the same generator and call budget, as run <name>-baseline."""
    from sagert.generation.baseline import Baseline, baseline_sources, generator_calls
    from sagert.taxonomy import load_taxonomy

    cfg = load_config(config)
    budget = calls if calls is not None else generator_calls(cfg.run_dir)
    if budget < 1:
        raise UserError("the run spent no generator calls", fix="pass --calls N")
    base_cfg = cfg.model_copy(update={"name": f"{cfg.name}-baseline"})
    tree = load_taxonomy(cfg.taxonomy)

    async def go() -> StageSummary:
        async with open_run(base_cfg) as ctx:
            with stage_progress("baseline", budget) as advance:
                return await run_stage(
                    Baseline(),
                    baseline_sources(tree, budget),
                    ctx,
                    concurrency=64,
                    on_progress=advance,
                )

    summary = asyncio.run(go())
    _print_summary(base_cfg, [summary])
    _console().print(
        Text(
            f"compare: sagert stats {cfg.run_dir} --compare {base_cfg.run_dir} "
            f"({budget} generator calls each)"
        )
    )


@app.command("train")
def train_cmd(
    config: Path = typer.Argument(..., help="The run config whose export to train on."),
    method: str | None = typer.Option(None, help="dpo or simpo (default: train.method)."),
    base_model: str | None = typer.Option(None, help="embedded, a folder, a .gguf or a Hub id."),
    max_steps: int | None = typer.Option(None, help="Stop after this many optimizer steps."),
    output: Path | None = typer.Option(None, help="Default: runs/<name>/train/<method>."),
) -> None:
    """Align a model on the run's validated pairs (DPO, or SimPO via TRL's CPO trainer)."""
    from sagert.training.trainer import train, train_dir

    cfg = load_config(config)
    settings = _train_settings(cfg, config, method, base_model, max_steps)
    export = cfg.run_dir / "export" / "train.jsonl"
    if not export.is_file():
        _export(cfg.run_dir, ["trl"], False, None)
    result = train(export, settings, output or train_dir(cfg.run_dir, settings))
    _console().print(
        Text(
            f"{settings.method}: {result.steps} steps, loss {result.train_loss:.4f}, "
            f"{result.train_pairs} training pairs, {result.heldout_pairs} held out, "
            f"{result.dropped_too_long} dropped (prompt too long for max_length); "
            f"model: {result.final_model}"
        )
    )


@app.command("align")
def align_cmd(
    config: Path = typer.Argument(..., help="Run config: generation, train: and align: sections."),
    method: str | None = typer.Option(None, help="dpo or simpo (default: train.method)."),
    base_model: str | None = typer.Option(None, help="embedded, a folder, a .gguf or a Hub id."),
    max_steps: int | None = typer.Option(None, help="Stop training after this many steps."),
    prompts: list[Path] = typer.Option(
        [], "--prompts", "-i", help="More prompts to evaluate on (repeatable), e.g. XSTest."
    ),
    loader: str | None = typer.Option(None, help="Loader for --prompts (default: detected)."),
    limit: int | None = typer.Option(None, min=1, help="At most N prompts per source."),
    generate: bool = typer.Option(True, help="Run (or resume) generation first."),
    report: bool = typer.Option(True, help="Write report.html when done."),
) -> None:
    """Generate, train, then evaluate the base and the trained model (held-out prompts +
    any --prompts); one report compares them. Every step resumes."""
    from sagert.evaluation.config import load_evaluate_config, user_sources
    from sagert.evaluation.runner import prepare
    from sagert.training import align

    cfg, evaluate = load_evaluate_config(config, require_section=False)
    settings = _train_settings(cfg, config, method, base_model, max_steps)
    extra = [*user_sources(evaluate), *(PromptSource(path=p, loader=loader) for p in prompts)]
    if limit is not None:
        evaluate = with_limit(evaluate, limit)
    if extra:  # a bad prompt file fails now, not after an hour of training
        prepare(evaluate.model_copy(update={"prompts": extra}), cfg.seed)
    align.check_plan(cfg, settings.heldout_fraction, len(extra))
    if generate:
        _print_summary(cfg, asyncio.run(_generate(cfg, None)))
    _export(cfg.run_dir, ["trl"], False, None)
    trained = _train_once(cfg, settings)
    held, n_held = align.heldout_source(cfg, settings.heldout_fraction)
    _console().print(Text(f"held-out prompts (seed split): {n_held}"))
    final = align.evaluation_settings(
        cfg, evaluate, [*([held] if held else []), *extra], trained, settings.method
    )
    prepared = prepare(final, cfg.seed)
    summaries, summary = asyncio.run(_align_evaluate(cfg, final, prepared))
    align.record_alignment(cfg.run_dir, settings.method, trained)
    print_eval_summary(cfg, summaries, summary)
    if report:
        from sagert.report.build import build_report

        _console().print(Text(f"report: {build_report(cfg.run_dir)}"))


def _train_settings(
    cfg: RunConfig, config: Path, method: str | None, base: str | None, max_steps: int | None
) -> TrainSettings:
    """The config's train section with the command line's overrides, validated."""
    overrides = {"method": method, "base_model": base, "max_steps": max_steps}
    updates = {k: v for k, v in overrides.items() if v is not None}
    return validate(
        type(cfg.train), {**cfg.train.model_dump(), **updates}, file=str(config), prefix="train"
    )


def _train_once(cfg: RunConfig, settings: TrainSettings) -> TrainResult:
    """Train unless the same training already finished (then reuse its model)."""
    from sagert.training.trainer import finished_training, train, train_dir

    out = train_dir(cfg.run_dir, settings)
    done = finished_training(out, settings)
    if done is not None:
        _console().print(Text(f"{settings.method}: already trained ({done.final_model})"))
        return done
    result = train(cfg.run_dir / "export" / "train.jsonl", settings, out)
    _console().print(
        Text(
            f"{settings.method}: {result.steps} steps, loss {result.train_loss:.4f}, "
            f"{result.train_pairs} pairs ({result.dropped_too_long} too long, dropped)"
        )
    )
    return result


async def _align_evaluate(
    cfg: RunConfig, settings: Any, prepared: Any
) -> tuple[list[StageSummary], dict[str, Any]]:
    from sagert.evaluation.runner import run_evaluation

    async with open_run(cfg) as ctx:
        return await run_evaluation(ctx, settings, stage_progress, prepared, replace_changed=True)


def _export(run_dir: Path, formats: list[str], conversational: bool, push: str | None) -> None:
    written = export_run(run_dir, formats, conversational=conversational, push_to_hub=push)
    console = _console()
    for kind, path in written.items():
        console.print(Text(f"{kind}: {path}"))


async def _generate(cfg: RunConfig, until: str | None) -> list[StageSummary]:
    async with open_run(cfg) as ctx:
        return await run_generation(ctx, stage_progress, until)


def _print_summary(cfg: RunConfig, summaries: list[StageSummary]) -> None:
    console = _console()
    console.print(stages_table(summaries))
    reasons = [(s.name, r, n) for s in summaries for r, n in s.failure_reasons.items()]
    if reasons:
        why = Table("stage", "reason", "records", title="failed or dropped this run")
        for stage, reason, n in sorted(reasons, key=lambda x: -x[2]):
            why.add_row(stage, Text(plain(reason, 120)), str(n))
        console.print(why)
    calls = Table(
        "model",
        "roles",
        "calls",
        "cache hits",
        "retries",
        "failures",
        "prompt tok",
        "completion tok",
        title="models (this run)",
    )
    for name, st in total_calls(summaries).items():
        calls.add_row(
            name,
            ",".join(st["roles"]),
            str(st.get("calls", 0)),
            str(st.get("cache_hits", 0)),
            str(st.get("retries", 0)),
            str(st.get("failures", 0)),
            str(st.get("prompt_tokens", 0)),
            str(st.get("completion_tokens", 0)),
        )
    console.print(calls)
    wall = sum(s.seconds for s in summaries)
    console.print(Text(f"run: {cfg.run_dir}  ({wall:.1f} s in stages)"))


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
        _err_console().print(Text(f"error: {exc.one_line()}"), soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        _err_console().print("interrupted; re-run the same command to resume")
        sys.exit(130)
    except Exception as exc:  # a bug, not bad input: say so in one line, keep the run
        if debug:
            raise
        _err_console().print(
            Text(
                f"error: internal error: {type(exc).__name__}: {exc} (re-run with --debug for"
                " the traceback, and please report it; finished records are kept)"
            ),
            soft_wrap=True,
        )
        sys.exit(1)
