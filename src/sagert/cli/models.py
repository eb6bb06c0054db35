"""`sagert models [test ROLE]`: the providers, each role's model, one real call."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from sagert.cli.console import ConfigOption, config_or_default, console
from sagert.core.terminal import plain
from sagert.models.provider import providers
from sagert.settings.run import ROLES
from sagert.workflows.models import smoke_test

models_app = typer.Typer(
    help="Model providers and the roles of a config.", invoke_without_command=True
)


@models_app.callback()
def models_overview(ctx: typer.Context, config: Path | None = ConfigOption) -> None:
    """Providers and the model each role uses."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = config_or_default(config)
    out = console()
    table = Table("provider", "description", title="providers")
    for entry in providers:
        table.add_row(Text(entry.name), Text(entry.description))
    out.print(table)
    roles = Table("role", "model", "base_url", "max_connections", "from", title="roles")
    for role in ROLES:
        spec = cfg.models.for_role(role)
        source = "config" if cfg.models.configured(role) else "generator"
        fleet = spec.fleet()
        where = ", ".join(e.base_url for e in fleet) if fleet else spec.base_url or "-"
        assert isinstance(where, str)
        cells = (spec.model, where, str(spec.max_connections or "default"))
        roles.add_row(role, *map(Text, cells), source)  # Text: config values are not markup
    out.print(roles)


@models_app.command("test")
def models_test(
    role: str = typer.Argument(..., help=f"One of: {', '.join(ROLES)}."),
    config: Path | None = ConfigOption,
) -> None:
    """One real call to ROLE's model: prints latency, tokens and the answer."""
    result = smoke_test(config_or_default(config), role)
    out = console()
    out.print(Text(f"{role}: {result.model}"))
    usage = result.output.usage
    out.print(
        Text(
            f"latency {result.seconds:.2f} s, prompt tokens {usage.prompt_tokens}, "
            f"completion tokens {usage.completion_tokens}, finish {result.output.finish_reason}"
        )
    )
    out.print(Text(plain(result.output.text, limit=400)))
