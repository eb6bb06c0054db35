"""What contrast prompts start from and what they must avoid: the prompt gate's benign prompts,
the test sets' prompts, and the screen that leaves out any candidate matching one of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sagert.core.errors import UserError
from sagert.diversity.overlap import find_overlaps
from sagert.loaders import load_prompts
from sagert.results.gate import GATE_KEY, NOT_HARMFUL
from sagert.settings.contrast import ExcludeSource
from sagert.store.jsonl import read_records
from sagert.store.records import Record
from sagert.store.run import RunStore

BENIGN_STAGE = "benign"
"""stages/benign.jsonl, the prompt gates' benign prompts (read as a stage file)."""
BENIGN_STYLE = "benign_set"
EXCLUDED_PART = "excluded.jsonl"


@dataclass(frozen=True)
class Exclusions:
    """The test prompts no contrast prompt may match, and where they came from."""

    prompts: list[str]
    sources: list[dict[str, Any]]


def load_exclusions(
    explicit: list[ExcludeSource], from_evaluate: tuple[ExcludeSource, ...]
) -> Exclusions:
    """Every prompt of the files; a missing `exclude` file is an error, a missing evaluate
    prompt file is noted (evaluate reports it when it runs)."""
    prompts: list[str] = []
    sources: list[dict[str, Any]] = []
    for i, src in enumerate([*explicit, *from_evaluate]):
        if not src.path.exists():
            if i < len(explicit):
                raise UserError(
                    "prompt file to exclude not found",
                    file=src.path,
                    field=f"stages.contrast.exclude[{i}].path",
                    fix="give the over-refusal test set's file (e.g. xstest_prompts.csv)",
                )
            sources.append({"path": str(src.path), "prompts": 0, "missing": True})
            continue
        found = [
            r.prompt for r in load_prompts(src.path, src.loader, column=src.column) if r.prompt
        ]
        prompts += found
        sources.append({"path": str(src.path), "prompts": len(found)})
    return Exclusions(prompts, sources)


def benign_inputs(store: RunStore) -> Iterator[Record]:
    """The gates' benign prompts fit for contrast: judged not harmful (a prompt that lost its
    seed's intent may still be harmful) and not attack-encoded, in id order."""
    fit = [
        r
        for r in store.records(BENIGN_STAGE)
        if r.prompt
        and r.meta.get("benign")
        and r.meta.get(GATE_KEY, {}).get(r.stage) == NOT_HARMFUL
        and r.meta.get("attack", "none") == "none"
    ]
    return iter(sorted(fit, key=lambda r: r.id))


def screen(store: RunStore, stage: str, tests: Exclusions, threshold: float) -> dict[str, Any]:
    """Leave out the candidates that match a test prompt or an earlier candidate (in id
    order); rewrite the stage's excluded view; the stage's figures over its whole file."""
    records = list(store.records(stage))
    ok = sorted((r for r in records if r.status == "ok"), key=lambda r: r.id)
    left_out: list[Record] = []
    kinds: Counter[str] = Counter()
    for record, overlap in find_overlaps(ok, tests.prompts, threshold):
        if overlap is not None:
            kinds[overlap.kind] += 1
            meta = {**record.meta, "excluded": overlap.as_dict()}
            left_out.append(record.model_copy(update={"meta": meta}))
    store.write_text(
        store.paths.stage_side(stage, EXCLUDED_PART),
        "".join(r.model_dump_json() + "\n" for r in left_out),
    )
    sources = Counter(str(r.meta.get("contrast", {}).get("source")) for r in ok)
    styles = Counter(str(r.meta.get("contrast", {}).get("style")) for r in ok)
    return {
        "candidates": len(ok),
        "generated": sources.get("generated", 0),
        "from_benign": sources.get("benign", 0),
        "judged_harmful": sum(1 for r in records if r.status == "filtered"),
        "failed": sum(1 for r in records if r.status == "failed"),
        "excluded_test_set": kinds.get("test_set", 0),
        "duplicates": kinds.get("duplicate", 0),
        "usable": len(ok) - len(left_out),
        "exclusion_prompts": len(tests.prompts),
        "exclusion_sources": tests.sources,
        "exclude_threshold": threshold,
        "by_style": dict(sorted(styles.items())),
    }


def left_out_ids(store: RunStore, stage: str) -> set[str]:
    """The ids the last screen left out (its view file)."""
    path = store.paths.stage_side(stage, EXCLUDED_PART)
    if not path.is_file():
        return set()
    return {r.id for r in read_records(path)}
