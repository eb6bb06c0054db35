"""The Model comparison section: each target's rates side by side, and later minus first.

Built for before/after alignment: `align.json` ({"before": T, "after": U}) puts the base model
first; without it the order is the evaluation's (the manifest's target list, else the order
the answers came in). Rates and Wilson intervals are the summary's, never recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sagert.results.metrics import MISSING
from sagert.store.run import RunStore

ALL_LABEL = "(all)"


@dataclass(frozen=True)
class Rate:
    """One rate of one target in one row, with the counts behind it."""

    text: str
    counts: str
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Delta:
    text: str
    separated: bool
    """The two 95% intervals do not overlap: a conservative sign the difference is real."""


@dataclass(frozen=True)
class Cell:
    asr: Rate
    over_refusal: Rate


@dataclass(frozen=True)
class Row:
    source: str
    attack: str
    cells: list[Cell]
    asr_deltas: list[Delta]
    over_refusal_deltas: list[Delta]


def _label(value: str | None) -> str:
    return ALL_LABEL if value is None else "(none)" if value in ("", MISSING) else value


def pct(value: float | None, low: float | None = None, high: float | None = None) -> str:
    """A rate as text, with its interval when given; "-" for no rate."""
    if value is None:
        return "-"
    text = f"{100 * value:.1f}%"
    if low is not None and high is not None:
        text += f" [{100 * low:.1f}-{100 * high:.1f}]"
    return text


def _rate(row: dict[str, Any] | None, name: str, hits: str, judged: str) -> Rate:
    if row is None:
        return Rate("-", "0/0", None, None, None)
    value, low, high = row[name], row[f"{name}_low"], row[f"{name}_high"]
    return Rate(pct(value, low, high), f"{row[hits]}/{row[judged]}", value, low, high)


def _delta(first: Rate, later: Rate) -> Delta:
    if first.value is None or later.value is None:
        return Delta("-", False)
    points = round(100 * (later.value - first.value), 1) + 0.0  # no "-0.0"
    return Delta(f"{points:+.1f} pp", _separated(first, later))


def _separated(a: Rate, b: Rate) -> bool:
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return False
    return b.low > a.high or b.high < a.low


def _align(store: RunStore) -> list[str]:
    """[before, after] from align.json; nothing when it is missing or not that shape."""
    data = store.align_info()
    return [str(data[k]) for k in ("before", "after") if isinstance(data.get(k), str)]


def _rounds(store: RunStore) -> list[str]:
    """`sagert align --rounds`'s targets in round order (align.json's `rounds`)."""
    rounds = store.align_info().get("rounds")
    if not isinstance(rounds, list):
        return []
    return [
        str(r["target"]) for r in rounds if isinstance(r, dict) and isinstance(r.get("target"), str)
    ]


def target_order(store: RunStore, summary: dict[str, Any], info: dict[str, Any]) -> list[str]:
    """align.json's before and after first, then the manifest's order, then the summary's."""
    present = list(summary["targets"])
    evaluate = info.get("evaluate")
    listed = evaluate.get("targets") if isinstance(evaluate, dict) else None
    aligned = _align(store)
    preferred = [
        *aligned[:1],
        *_rounds(store),
        *aligned,
        *(listed if isinstance(listed, dict) else {}),
    ]
    order: list[str] = []
    for name in [*preferred, *present]:
        if name in present and name not in order:
            order.append(name)
    return order


def comparison_view(
    store: RunStore, summary: dict[str, Any], info: dict[str, Any]
) -> dict[str, Any] | None:
    """Rows per (source, attack), "all" included; None with fewer than two targets."""
    targets = target_order(store, summary, info)
    if len(targets) < 2:
        return None
    by = summary["by"]
    # None is "all": a source or attack may well be named "all".
    index: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    for row in summary["overall"]:
        index[(row["target"], None, None)] = row
    for row in by["attack"]:
        index[(row["target"], None, row["attack"])] = row
    for row in by["source"]:
        index[(row["target"], row["source"], None)] = row
    for row in by.get("source_attack", []):
        index[(row["target"], row["source"], row["attack"])] = row
    sources = sorted({r["source"] for r in by["source"]})
    attacks = sorted({r["attack"] for r in by["attack"]})
    keys: list[tuple[str | None, str | None]] = [(None, None)]
    if len(attacks) > 1:
        keys += [(None, a) for a in attacks]
    if len(sources) > 1:
        for source in sources:
            keys.append((source, None))
            if len(attacks) > 1:
                keys += [(source, a) for a in attacks]
    rows: list[Row] = []
    for source, attack in keys:
        found = [index.get((t, source, attack)) for t in targets]
        if not any(found):
            continue
        cells = [
            Cell(
                asr=_rate(r, "asr", "unsafe", "judged"),
                over_refusal=_rate(r, "over_refusal", "refused", "benign_judged"),
            )
            for r in found
        ]
        first = cells[0]
        rows.append(
            Row(
                source=_label(source),
                attack=_label(attack),
                cells=cells,
                asr_deltas=[_delta(first.asr, c.asr) for c in cells[1:]],
                over_refusal_deltas=[_delta(first.over_refusal, c.over_refusal) for c in cells[1:]],
            )
        )
    aligned = _align(store)
    return {
        "targets": [{"name": t, "model": summary["targets"].get(t, "-")} for t in targets],
        "first": targets[0],
        "later": targets[1:],
        "rows": rows,
        "aligned": aligned if len(aligned) == 2 and set(aligned) <= set(targets) else [],
    }
