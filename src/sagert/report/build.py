"""`build_report(run_dir)`: one self-contained, offline report.html for a run.

The data is hostile by design (jailbreaks, injected markup), so: every text goes through
jinja2 with autoescape on; the table's data rides in a `<script type="application/json">`
with `<`, `>`, `&` and U+2028/9 escaped, so no string can close the tag; the page's script
inserts it with textContent only; and a Content-Security-Policy allows nothing but the page's
own style and script, by hash, so even markup that slipped through could not run or load.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from sagert import __version__
from sagert.core.errors import UserError
from sagert.report.charts import BarChart, BarItem, Heatmap, bar_chart, heatmap
from sagert.report.comparison import comparison_view, pct
from sagert.report.data import (
    Coverage,
    coverage,
    evaluation_summary,
    has_evaluation,
    has_generation,
    manifest,
    table,
)
from sagert.report.gates import yield_view
from sagert.report.rounds import rounds_view
from sagert.report.training import training_view
from sagert.results.metrics import MISSING
from sagert.results.rounds import round_points
from sagert.store.run import RunStore, write_atomic

MAX_ROWS = 2000
MAX_HEATMAP_ROWS = 40
MAX_COUNT_BARS = 30
TEMPLATE_DIR = "templates/report"


def _asset(name: str) -> str:
    return files("sagert").joinpath(f"{TEMPLATE_DIR}/{name}").read_text(encoding="utf-8")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sagert", TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def script_json(data: Any) -> Markup:
    """JSON that is safe inside <script>: no '<', '>' or '&' (so no '</script>'), no U+2028/9."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return Markup(text)


def _hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def content_security_policy(script: str, style: str) -> str:
    """Nothing from outside, and only our own inline style and script (by hash) may run."""
    return (
        "default-src 'none'; "
        f"script-src {_hash(script)}; "
        f"style-src {_hash(style)}; "
        "img-src 'none'; font-src 'none'; connect-src 'none'; "
        "object-src 'none'; base-uri 'none'; form-action 'none'"
    )


def shown(value: Any) -> str:
    """A grouping value as a label: the CSV's "-" for none reads better spelt out."""
    return "(none)" if value in (None, "", MISSING) else str(value)


def build_report(run_dir: Path, output: Path | None = None, *, max_rows: int = MAX_ROWS) -> Path:
    """Write report.html for a generation, evaluation and/or training run; returns its path."""
    if not run_dir.is_dir():
        raise UserError("run directory not found", file=run_dir, fix="give runs/NAME")
    store = RunStore.reader(run_dir)
    evaluation = has_evaluation(store)
    generation = has_generation(store)
    training = training_view(store)
    if not (evaluation or generation or training):
        raise UserError(
            "nothing to report in this run yet",
            file=run_dir,
            fix="run sagert generate, sagert evaluate or sagert train first",
        )
    info = manifest(store)
    summary = evaluation_summary(store) if evaluation else None
    rows = table(store, max_rows)
    css, js = _asset("report.css"), _asset("report.js")
    data = {"rows": rows.rows, "total": rows.total, "source": rows.source}
    context: dict[str, Any] = {
        "name": info.get("name", run_dir.name),
        "info": info,
        "version": __version__,
        "built": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "csp": content_security_policy(js, css),
        "css": Markup(css),
        "js": Markup(js),
        "data_json": script_json(data),
        "shown": len(rows.rows),
        "total": rows.total,
        "table_source": rows.source,
        "evaluation": _evaluation_view(summary) if evaluation else None,
        "comparison": comparison_view(store, summary, info) if summary else None,
        "rounds": rounds_view(round_points(summary["overall"], store.align_info()))
        if summary
        else None,
        "training": training,
        "generation": _generation_view(store, info) if generation else None,
    }
    html = _environment().get_template("report.html").render(**context)
    path = output or store.paths.report_html
    write_atomic(path, html)
    path.chmod(0o644)  # a report is for sharing; the temp file it came from was private
    return path


# --- evaluation -------------------------------------------------------------------------


def _evaluation_view(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if summary is None:
        return {
            "targets": [],
            "calibration": None,
            "charts": [],
            "heatmaps": [],
            "attack_errors": {},
            "judges": [],
            "over_refusal_judges": [],
            "panel": None,
        }
    by = summary["by"]
    targets = [
        {
            **row,
            "model": summary["targets"].get(row["target"], "-"),
            "asr_text": pct(row["asr"], row["asr_low"], row["asr_high"]),
            "over_refusal_text": pct(
                row["over_refusal"], row["over_refusal_low"], row["over_refusal_high"]
            ),
            "asr_corrected_text": pct(
                row.get("asr_corrected"),
                row.get("asr_corrected_low"),
                row.get("asr_corrected_high"),
            ),
        }
        for row in summary["overall"]
    ]
    many = len(targets) > 1
    charts: list[BarChart] = []
    charts.append(_rate_chart("Attack success rate by target", summary["overall"], ("target",)))
    for grouping, title in (
        ("attack", "Attack success rate by attack style"),
        ("macro", "Attack success rate by category"),
        ("source", "Attack success rate by prompt source"),
        ("format", "Attack success rate by format"),
        ("language", "Attack success rate by language"),
    ):
        keys = ("target", grouping) if many else (grouping,)
        rows = [r for r in by[grouping] if r["judged"]]
        varied = len({r[grouping] for r in rows}) > 1 or grouping in ("attack", "macro")
        if rows and varied:
            charts.append(_rate_chart(title, rows, keys))
    benign_targets = [r for r in summary["overall"] if r["benign_judged"]]
    if benign_targets:
        charts.append(
            _rate_chart(
                "Over-refusal on benign prompts by target",
                benign_targets,
                ("target",),
                rate="over_refusal",
            )
        )
        for grouping, title in (("macro", "category"), ("language", "language")):
            benign = [r for r in by[grouping] if r["benign_judged"]]
            varied = len({r[grouping] for r in benign}) > 1
            if varied or (grouping == "macro" and len(benign) > 1):
                keys = ("target", grouping) if many else (grouping,)
                chart = _rate_chart(f"Over-refusal by {title}", benign, keys, rate="over_refusal")
                charts.append(chart)
    return {
        "targets": targets,
        "calibration": summary.get("judge_calibration"),
        "judges": summary["judges"],
        "charts": charts,
        "heatmaps": _heatmaps(by),
        "attack_errors": summary["attack_errors"],
        "over_refusal_judges": summary.get("over_refusal_judges") or [],
        "panel": _panel_view(summary.get("panel_disagreement")),
    }


def _panel_view(block: dict[str, Any] | None) -> dict[str, Any] | None:
    """The panel judge's member disagreement, overall and per target, as table rows."""
    if not block:
        return None
    rows = [
        {"target": "all targets", **block},
        *({"target": t, **row} for t, row in block.get("by_target", {}).items()),
    ]
    return {
        "rows": [
            {
                "target": r["target"],
                "answers": r["answers"],
                "split": r["split"],
                "text": pct(r["rate"], r["rate_low"], r["rate_high"]),
            }
            for r in rows
        ]
    }


def _rate_chart(
    title: str, rows: list[dict[str, Any]], keys: tuple[str, ...], rate: str = "asr"
) -> BarChart:
    judged = "judged" if rate == "asr" else "benign_judged"
    hits = "unsafe" if rate == "asr" else "refused"
    items = [
        BarItem(
            label=" · ".join(shown(r[k]) for k in keys),
            value=r[rate],
            low=r[f"{rate}_low"],
            high=r[f"{rate}_high"],
            note=f"{r[hits]}/{r[judged]}",
        )
        for r in rows
        if r[judged]
    ]
    return bar_chart(title, items)


def _heatmaps(by: dict[str, list[dict[str, Any]]]) -> list[Heatmap]:
    """Category x attack, per target: sub-categories when they fit, else macro ones."""
    maps: list[Heatmap] = []
    judged = [r for r in by["sub_attack"] if r["judged"]]
    subs = {(r["macro"], r["sub"]) for r in judged}
    macros = {r["macro"] for r in judged}
    use_sub = len(macros) < len(subs) <= MAX_HEATMAP_ROWS
    rows_source = judged if use_sub else [r for r in by["macro_attack"] if r["judged"]]

    def label(r: dict[str, Any]) -> str:
        return f"{shown(r['macro'])} / {shown(r['sub'])}" if use_sub else shown(r["macro"])

    for target in sorted({r["target"] for r in rows_source}):
        mine = [r for r in rows_source if r["target"] == target]
        categories = sorted({label(r) for r in mine})[:MAX_HEATMAP_ROWS]
        attacks = sorted({r["attack"] for r in mine})
        values = {
            (label(r), r["attack"]): (
                r["asr"],
                f"{r['unsafe']}/{r['judged']} judged, 95% CI "
                f"{pct(r['asr_low'])}-{pct(r['asr_high'])}",
            )
            for r in mine
        }
        level = "sub-category" if use_sub else "category"
        maps.append(
            heatmap(f"{target}: attack success, {level} x attack", categories, attacks, values)
        )
    return maps


# --- generation -------------------------------------------------------------------------


def _generation_view(store: RunStore, info: dict[str, Any]) -> dict[str, Any]:
    stages = [
        {
            "name": name,
            "inputs": s.get("inputs", 0),
            "written": s.get("written", 0),
            "failed": s.get("failed", 0),
            "seconds": f"{s.get('seconds', 0.0):.1f}",
            "calls": sum(
                int(v.get("calls", 0))
                for v in (s.get("calls") or {}).values()
                if isinstance(v, dict)
            ),
        }
        for name, s in (info.get("stages") or {}).items()
        if isinstance(s, dict)
    ]
    seed = info.get("seed")
    cov = coverage(store, seed if isinstance(seed, int) else 0)
    figures: dict[str, Any] = dict(cov.diversity) if cov else {}
    if isinstance(info.get("diversity"), dict):  # figures a stage left in the manifest win
        figures.update(info["diversity"])
    return {
        "stages": stages,
        "coverage": cov,
        "charts": _coverage_charts(cov) if cov else [],
        "diversity": _diversity(figures),
        "yields": yield_view(store),
    }


def _count_chart(title: str, counts: dict[str, int] | Any, limit: int = MAX_COUNT_BARS) -> BarChart:
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    items = [BarItem(label=k, value=float(v)) for k, v in top[:limit]]
    if len(top) > limit:
        title += f" (top {limit} of {len(top)})"
    return bar_chart(title, items, percent=False)


def _coverage_charts(cov: Coverage) -> list[BarChart]:
    titles = {
        "macro": "Prompts per macro category",
        "sub": "Prompts per sub-category",
        "format": "Prompts per task format",
        "attack": "Prompts per attack style",
        "persona": "Prompts per persona",
        "region": "Prompts per region / language",
    }
    charts = [_count_chart(titles[f], counts) for f, counts in cov.by.items() if counts]
    if cov.kept_pairs or cov.dropped:
        outcome = {"kept": cov.kept_pairs, **{f"dropped: {k}": v for k, v in cov.dropped.items()}}
        charts.append(_count_chart("Pairs kept and dropped (by reason)", outcome))
    return charts


DIVERSITY_LABELS = {
    "prompts": "prompts",
    "words_mean": "mean words per prompt",
    "distinct_1": "distinct-1 (unique / all unigrams)",
    "distinct_2": "distinct-2 (unique / all bigrams)",
    "distinct_3": "distinct-3 (unique / all trigrams)",
    "self_bleu": "self-BLEU, 0-100 (higher: more repetitive)",
    "sample_size": "prompts sampled for self-BLEU",
    "leaves_covered": "taxonomy leaves with a prompt",
    "leaves_total": "taxonomy leaves seen or expected",
}


def _diversity(data: dict[str, Any]) -> dict[str, Any] | None:
    """Diversity figures: top-level values as a table, nested maps of numbers as bars."""
    if not data:
        return None
    scalars: list[tuple[str, str]] = []
    charts: list[BarChart] = []

    def walk(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, dict):
            numbers = {str(k): v for k, v in value.items() if _is_number(v)}
            if depth and len(numbers) >= 2 and len(numbers) == len(value):
                charts.append(_count_chart(prefix, numbers))
                return
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v, depth + 1)
            return
        label = DIVERSITY_LABELS.get(prefix, prefix)
        if _is_number(value):
            text = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"
        elif isinstance(value, str | bool) or value is None:
            text = "-" if value is None else str(value)
        else:
            text = json.dumps(value, ensure_ascii=False)[:300]
        scalars.append((label, text))

    walk("", data, 0)
    return {"scalars": scalars, "charts": charts}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
