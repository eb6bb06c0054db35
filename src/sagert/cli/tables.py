"""Tables more than one command prints."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sagert.engine.summary import StageSummary, total_calls, total_roles


def stages_table(summaries: list[StageSummary]) -> Table:
    """One row per stage: inputs, already done, written, failed, seconds."""
    table = Table("stage", "inputs", "already done", "written", "failed", "seconds", title="stages")
    for s in summaries:
        table.add_row(
            s.name,
            str(s.inputs),
            str(s.skipped_done),
            str(s.written),
            str(s.failed),
            f"{s.seconds:.1f}",
        )
    return table


def endpoints_table(totals: dict[str, dict[str, Any]]) -> Table | None:
    """One row per endpoint of each fleet (None when no role uses one): what each served."""
    table = Table(
        "model",
        "endpoint",
        "requests",
        "ok",
        "errors",
        "failed over",
        "429s",
        "taken out",
        "prompt tok",
        "completion tok",
        "req/s",
        "tok/s",
        title="endpoints (this run)",
    )
    for name, stats in totals.items():
        for url, ep in (stats.get("endpoints") or {}).items():
            table.add_row(
                Text(name),
                Text(url),
                *(
                    str(ep.get(key, 0))
                    for key in (
                        "requests",
                        "ok",
                        "errors",
                        "failovers",
                        "rate_limited",
                        "ejections",
                        "prompt_tokens",
                        "completion_tokens",
                    )
                ),
                *rate_cells(ep),
            )
    return table if table.row_count else None


def rate_cells(stats: dict[str, Any]) -> tuple[str, str]:
    """Requests and tokens (prompt + completion) per second of the stages' wall time."""
    return (
        f"{stats.get('requests_per_second', 0.0):.1f}",
        f"{stats.get('tokens_per_second', 0.0):.1f}",
    )


def roles_table(totals: dict[str, dict[str, Any]]) -> Table | None:
    """One row per role that made calls: calls, tokens, estimated cost, rates."""
    table = Table(
        "role",
        "calls",
        "prompt tok",
        "completion tok",
        "cost (USD)",
        "req/s",
        "tok/s",
        title="roles (this run)",
    )
    for role, st in totals.items():
        table.add_row(
            Text(role),
            str(st.get("calls", 0)),
            str(st.get("prompt_tokens", 0)),
            str(st.get("completion_tokens", 0)),
            f"{st.get('cost_usd', 0.0):.4f}",
            *rate_cells(st),
        )
    return table if table.row_count else None


def print_models(
    out: Console, summaries: list[StageSummary], *, tokens: bool, title: str = "models"
) -> None:
    """What each model did in this run (with token counts when `tokens`), then its fleet's
    endpoints and the roles, when there are any."""
    token_columns = ("prompt tok", "completion tok") if tokens else ()
    calls = Table(
        "model",
        "roles",
        "calls",
        "cache hits",
        "retries",
        "failures",
        *token_columns,
        "req/s",
        "tok/s",
        title=title,
    )
    totals = total_calls(summaries)
    for name, st in totals.items():
        counts = ("calls", "cache_hits", "retries", "failures")
        token_counts = ("prompt_tokens", "completion_tokens") if tokens else ()
        calls.add_row(
            Text(name),
            ",".join(st["roles"]),
            *(str(st.get(key, 0)) for key in (*counts, *token_counts)),
            *rate_cells(st),
        )
    out.print(calls)
    for table in (endpoints_table(totals), roles_table(total_roles(summaries))):
        if table is not None:
            out.print(table)
