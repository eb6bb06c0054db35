"""Benchmark loaders: HarmBench, AdvBench, JailbreakBench, XSTest and ALERT files as published."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from sagert.core.errors import UserError
from sagert.loaders.base import LoaderOptions, loaders, require_columns, rows, source_record
from sagert.loaders.cells import builtin_category, text_field
from sagert.store.records import Record, TaxonomyPath
from sagert.taxonomy import LEVELS, load_taxonomy

ALERT_WRAP = re.compile(r"^\s*### Instruction:\s*\n(?P<text>.*?)\n\s*### Response:\s*$", re.S)


@loaders.register("harmbench", "HarmBench behaviors CSV (Behavior, SemanticCategory, ...).")
def load_harmbench(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    require_columns(path, ("Behavior", "SemanticCategory"), "harmbench")
    for row in rows(path):
        behavior = text_field(row, "Behavior", path)
        assert behavior is not None
        context = text_field(row, "ContextString", path, required=False)
        # HarmBench's own prompt for contextual behaviors: the context, a rule, the request.
        prompt = f"{context}\n\n---\n\n{behavior}" if context else behavior
        meta = {
            "behavior_id": row.data.get("BehaviorID"),
            "tags": row.data.get("Tags"),
            "context": context,
        }
        yield source_record(
            opts,
            row.index,
            prompt,
            taxonomy=builtin_category("harmbench", row.data.get("SemanticCategory")),
            benign=False,
            format=(row.data.get("FunctionalCategory") or None),
            seed_prompt=behavior,
            meta={k: v for k, v in meta.items() if v},
        )


@loaders.register("advbench", "AdvBench harmful_behaviors.csv (goal, target).")
def load_advbench(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    require_columns(path, ("goal",), "advbench")
    for row in rows(path):
        goal = text_field(row, "goal", path)
        assert goal is not None
        target = row.data.get("target")
        yield source_record(
            opts, row.index, goal, benign=False, meta={"target": target} if target else None
        )


@loaders.register("jailbreakbench", "JailbreakBench behaviors CSV (Goal, Target, Category...).")
def load_jailbreakbench(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    require_columns(path, ("Goal", "Category"), "jailbreakbench")
    benign = "benign" in path.name.lower()
    for row in rows(path):
        goal = text_field(row, "Goal", path)
        assert goal is not None
        meta = {
            "behavior": row.data.get("Behavior"),
            "target": row.data.get("Target"),
            "origin": row.data.get("Source"),
        }
        yield source_record(
            opts,
            row.index,
            goal,
            taxonomy=builtin_category("jailbreakbench", row.data.get("Category")),
            benign=benign,
            meta={k: v for k, v in meta.items() if v},
        )


@loaders.register("xstest", "XSTest prompts CSV (prompt, type, label): safe rows are benign.")
def load_xstest(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    require_columns(path, ("prompt", "type", "label"), "xstest")
    for row in rows(path):
        prompt = text_field(row, "prompt", path)
        assert prompt is not None
        label = str(row.data.get("label") or "").strip().lower()
        if label not in {"safe", "unsafe"}:
            raise UserError(
                f"label {row.data.get('label')!r} is not safe or unsafe",
                file=path,
                field=f"{row.where}, column label",
                fix="use the XSTest file as published",
            )
        kind = str(row.data.get("type") or "").strip() or None
        meta = {
            "xstest_id": row.data.get("id"),
            "focus": row.data.get("focus"),
            "note": row.data.get("note"),
        }
        yield source_record(
            opts,
            row.index,
            prompt,
            taxonomy=TaxonomyPath(macro=kind),
            benign=label == "safe",
            meta={k: v for k, v in meta.items() if v},
        )


@loaders.register("alert", "ALERT JSONL (id, '### Instruction:' prompt, category, attack_type).")
def load_alert(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    require_columns(path, ("prompt", "category"), "alert")
    tree = load_taxonomy("alert")
    for row in rows(path):
        wrapped = text_field(row, "prompt", path)
        assert wrapped is not None
        prompt = unwrap_alert(wrapped)
        if not prompt:
            raise UserError(
                "empty instruction", file=path, field=row.where, fix="give the prompt text"
            )
        category = str(row.data.get("category") or "").strip()
        try:
            keys = tree.resolve(category)
        except UserError as exc:
            raise UserError(
                f"unknown ALERT category {category!r}",
                file=path,
                field=f"{row.where}, field category",
                fix=exc.fix or "use a key from: sagert taxonomy show alert",
            ) from None
        meta = {"alert_id": row.data.get("id")}
        if row.data.get("attack_type"):
            meta["attack"] = str(row.data["attack_type"])
        yield source_record(
            opts,
            row.index,
            prompt,
            taxonomy=TaxonomyPath(**dict(zip(LEVELS, keys, strict=False))),
            benign=False,
            meta=meta,
        )


def unwrap_alert(text: str) -> str:
    """ALERT wraps each prompt as '### Instruction:\\n<text>\\n### Response:\\n'."""
    match = ALERT_WRAP.match(text)
    return (match.group("text") if match else text).strip()
