"""The contrast pairs' table, printed after a run's closing summary: what was made, what the
test-set screen left out, what validation kept, what the training set takes."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from sagert.cli.console import console
from sagert.engine.summary import StageSummary
from sagert.results.contrast import contrast_taken

PROMPTS_STAGE, PAIRS_STAGE = "contrast_prompts", "contrast"


def _figures(summaries: list[StageSummary], name: str) -> dict[str, Any]:
    """The stage's last figures (a top-up runs both stages again: the last are the whole)."""
    for s in reversed(summaries):
        if s.name == name and isinstance(figures := getattr(s, "contrast", None), dict):
            return figures
    return {}


def contrast_rows(made: dict[str, Any], pairs: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, how many) lines of the table, from the two stages' figures."""
    sources = made.get("exclusion_sources") or []
    files = ", ".join(
        f"{s['path']} ({'missing' if s.get('missing') else s['prompts']})" for s in sources
    )
    rows = [
        ("harmful pairs", str(made.get("harmful_pairs", 0))),
        (
            f"contrast pairs wanted (share {100 * made.get('share', 0):.0f}%)",
            str(made.get("target", 0)),
        ),
        ("candidate prompts wanted (x oversample, + top-ups)", str(made.get("wanted", 0))),
        ("candidates generated", str(made.get("generated", 0))),
        ("candidates from the benign set", str(made.get("from_benign", 0))),
        ("judged harmful by the prompt judge", str(made.get("judged_harmful", 0))),
        ("failed (generation or judge errors)", str(made.get("failed", 0))),
        (
            f"excluded: match a test-set prompt (of {made.get('exclusion_prompts', 0)})",
            str(made.get("excluded_test_set", 0)),
        ),
        ("excluded: duplicate of another candidate", str(made.get("duplicates", 0))),
        ("usable candidates", str(made.get("usable", 0))),
    ]
    if pairs:
        kept = int(pairs.get("kept", 0))
        rows += [
            (
                "top-up rounds (candidates added)",
                f"{pairs.get('top_up_rounds', 0)} ({made.get('topped_up', 0)})",
            ),
            (f"pairs kept (judge {pairs.get('judge')})", str(kept)),
            *(
                (f"dropped: {reason}", str(n))
                for reason, n in (pairs.get("dropped_by_reason") or {}).items()
            ),
        ]
        harmful, share = int(made.get("harmful_pairs", 0)), float(made.get("share", 0))
        taken = contrast_taken(harmful, share, kept)
        total = harmful + taken
        pct = f" = {100 * taken / total:.1f}%" if total else ""
        rows.append(("in the training set", f"{taken} of {total}{pct}"))
    if files:
        rows.append(("test sets screened against", files))
    return rows


def print_contrast(summaries: list[StageSummary]) -> None:
    made = _figures(summaries, PROMPTS_STAGE)
    if not made:
        return
    pairs = _figures(summaries, PAIRS_STAGE)
    table = Table("contrast (benign prompts that look harmful)", "count", title="contrast pairs")
    for what, value in contrast_rows(made, pairs):
        table.add_row(what, Text(value))
    out = console()
    out.print(table)
    if not made.get("exclusion_prompts"):
        out.print(
            Text(
                "contrast: no test set to screen against: set stages.contrast.exclude to the"
                " over-refusal test's prompts (e.g. xstest_prompts.csv) so none can leak in"
            )
        )
