"""Export validated pairs: TRL's preference format, full JSONL, Parquet, an HF DatasetDict.

Every row carries its metadata as flat columns (taxonomy path, format, persona, attack,
evolution, lineage, verdicts, models) so pandas and `datasets` read it without conversion.
Lineage is a JSON string: its arguments differ per step, which Arrow cannot type as a column.
`--push-to-hub` uploads the data, the card, config.yaml and manifest.json in one commit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.judges.base import judge_kind, judges
from sagert.results.contrast import (
    CONTRAST_KIND,
    HARMFUL_KIND,
    contrast_taken,
    interleaved,
    share_line,
)
from sagert.results.yields import run_yield, yield_lines
from sagert.settings.run import RunConfig
from sagert.settings.yaml_file import read_yaml_mapping
from sagert.stages.contrast_screen import left_out_ids
from sagert.store.records import Record
from sagert.store.run import RunStore, write_atomic
from sagert.workflows.hub import HubClient, hub_token, push_files

EXPORT_FORMATS = ("trl", "jsonl", "parquet", "hf")


PAIRS_STAGE = "pairs"
TRANSLATE_STAGE = "translate"
"""Its pairs (one per language of each validated pair) are exported after the source pairs."""
CONTRAST_STAGE = "contrast"
CONTRAST_PROMPTS_STAGE = "contrast_prompts"
HUB_DATA_FILE = "data/train-00000-of-00001.parquet"
"""Where `DatasetDict.push_to_hub` puts a one-shard train split; the card's `configs:` names it."""
HUB_DATA_GLOB = "data/train-*"


def pair_records(store: RunStore) -> Iterator[Record]:
    """The validated pairs, then their translations (the translate stage after pairs)."""
    for stage in (PAIRS_STAGE, TRANSLATE_STAGE):
        yield from (r for r in store.records(stage, ok_only=True) if "pair" in r.meta)


def contrast_records(store: RunStore) -> Iterator[Record]:
    """The validated contrast pairs (benign prompts that look harmful), in id order, but for
    those whose prompt the last screen left out (a test set added since they were made)."""
    left_out = left_out_ids(store, CONTRAST_PROMPTS_STAGE)
    kept = (
        r
        for r in store.records(CONTRAST_STAGE, ok_only=True)
        if "pair" in r.meta and r.parent_id not in left_out
    )
    return iter(sorted(kept, key=lambda r: r.id))


def configured_share(store: RunStore) -> float:
    """`stages.contrast.share` of the run's config as last resolved (0 when unreadable)."""
    try:
        config = RunConfig.model_validate(read_yaml_mapping(store.paths.config))
    except (UserError, ValueError):
        return 0.0
    return config.stages.contrast.share


def contrast_mix(store: RunStore) -> dict[str, Any]:
    """The training set's make-up: harmful pairs, and the contrast pairs the share takes."""
    share = configured_share(store)
    harmful = sum(1 for _ in pair_records(store))
    available = sum(1 for _ in contrast_records(store))
    taken = contrast_taken(harmful, share, available)
    return {"share": share, "harmful": harmful, "available": available, "contrast": taken}


def training_records(store: RunStore, mix: dict[str, Any]) -> Iterator[Record]:
    """The harmful pairs with the contrast pairs the share takes spread evenly among them."""
    return interleaved(
        pair_records(store), contrast_records(store), int(mix["harmful"]), int(mix["contrast"])
    )


def validated_by(pair: dict[str, Any]) -> str:
    """`harm` or `refusal`: how the pair was validated (see stages/pairs.py GOOD_VERDICTS).

    A pair written before the pairs stage recorded it takes its judge's kind (a panel, whose
    kind depends on its members, counts as refusal: nothing is claimed that is not known)."""
    given = pair.get("validated_by")
    if given in ("harm", "refusal"):
        return str(given)
    name = str(pair.get("judge") or "")
    return judge_kind(judges.get(name)) if name in judges else "refusal"


def trl_row(record: Record, conversational: bool = False) -> dict[str, Any]:
    pair = record.meta["pair"]
    chosen = record.responses["chosen"][pair["chosen"]]
    rejected = record.responses["rejected"][pair["rejected"]]
    verdicts = record.scores.get(pair["judge"], {})
    prompt = record.prompt or ""
    row: dict[str, Any]
    if conversational:
        # A multi-turn record's prompt is its whole conversation up to the last user turn.
        turns = record.turns or [{"role": "user", "content": prompt}]
        row = {
            "prompt": [{"role": t["role"], "content": t["content"]} for t in turns],
            "chosen": [{"role": "assistant", "content": chosen.text}],
            "rejected": [{"role": "assistant", "content": rejected.text}],
        }
    else:
        row = {"prompt": prompt, "chosen": chosen.text, "rejected": rejected.text}
    t = record.taxonomy
    row.update(
        {
            "id": record.id,
            "seed_prompt": record.seed_prompt,
            "taxonomy_macro": t.macro,
            "taxonomy_sub": t.sub,
            "taxonomy_leaf": t.leaf,
            "taxonomy_topic": t.topic,
            "topic": record.meta.get("topic"),
            "format": record.format,
            "persona": record.persona,
            "region": record.meta.get("region"),
            "attack": record.meta.get("attack", "none"),
            "evolution": list(record.meta.get("evolution", [])),
            "lineage": json.dumps([s.model_dump() for s in record.lineage], ensure_ascii=False),
            "judge": pair["judge"],
            "validated_by": validated_by(pair),
            "chosen_verdict": verdicts.get("chosen", [{}])[pair["chosen"]].get("verdict"),
            "rejected_verdict": verdicts.get("rejected", [{}])[pair["rejected"]].get("verdict"),
            "chosen_model": chosen.model,
            "rejected_model": rejected.model,
            "language": record.meta.get("language"),
            "source_id": (record.meta.get("translation") or {}).get("source_id"),
            "kind": pair.get("kind", HARMFUL_KIND),
            "contrast_style": record.meta.get("contrast", {}).get("style"),
        }
    )
    return row


def export_run(
    run_dir: Path,
    formats: list[str],
    *,
    conversational: bool = False,
    out_dir: Path | None = None,
    push_to_hub: str | None = None,
    hub_client: HubClient | None = None,
) -> dict[str, Path]:
    """Write each format under runs/<name>/export/; returns format -> path.

    `push_to_hub` (a repo id) also uploads to a private Hub dataset repo, with `hub_client`
    (default `huggingface_hub.HfApi`) and the token from HF_TOKEN."""
    if push_to_hub:
        hub_token()  # no token: say so before any work
    store = RunStore.reader(run_dir)
    pairs_path = store.paths.stage(PAIRS_STAGE)
    if not pairs_path.exists():
        raise UserError(
            "this run has no validated pairs yet",
            file=pairs_path,
            fix="run: sagert generate CONFIG",
        )
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise UserError(
            f"unknown export format {unknown[0]!r}", fix=f"use one of: {', '.join(EXPORT_FORMATS)}"
        )
    out = out_dir or store.paths.export_dir
    out.mkdir(parents=True, exist_ok=True)
    # TRL's standard format has no earlier turns: multi-turn pairs need the conversational one.
    conversational = conversational or any(r.turns for r in pair_records(store))
    written: dict[str, Path] = {}
    mix = contrast_mix(store)
    trl_path = out / ("train.conversational.jsonl" if conversational else "train.jsonl")
    rows = (trl_row(r, conversational) for r in training_records(store, mix))
    count = _write_jsonl(trl_path, rows)
    if "trl" in formats:
        written["trl"] = trl_path
    if "jsonl" in formats:
        full = out / "records.jsonl"
        _write_jsonl(full, (r.model_dump(mode="json") for r in training_records(store, mix)))
        written["jsonl"] = full
    dataset: Any = None
    if {"parquet", "hf"} & set(formats) or push_to_hub:
        dataset = _load_hf(trl_path)
    if "parquet" in formats:
        written["parquet"] = out / "train.parquet"
        dataset.to_parquet(str(written["parquet"]))
    if "hf" in formats:
        from datasets import DatasetDict

        written["hf"] = out / "hf"
        DatasetDict({"train": dataset}).save_to_disk(str(written["hf"]))
    card = out / "README.md"
    write_atomic(card, dataset_card(store, trl_path, count, conversational, mix=mix))
    written["card"] = card
    if push_to_hub:
        hub_card = dataset_card(
            store, trl_path, count, conversational, data_path=HUB_DATA_GLOB, mix=mix
        )
        _push(store, dataset, push_to_hub, hub_card, count, hub_client)
    return written


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def _load_hf(path: Path) -> Any:
    try:
        from datasets import load_dataset
    except ImportError:
        raise UserError(
            "Parquet and HF exports need the datasets package", fix="pip install 'sagert[hf]'"
        ) from None
    return load_dataset("json", data_files=str(path), split="train")


def _push(
    store: RunStore,
    dataset: Any,
    repo_id: str,
    card: str,
    count: int,
    hub_client: HubClient | None,
) -> str:
    """The Parquet in `push_to_hub`'s layout, the card (naming it), the run's config and manifest:
    one commit, so `load_dataset(REPO)` works and the card is the one this run wrote."""
    with tempfile.TemporaryDirectory(prefix="sagert-hub-") as tmp:
        data = Path(tmp) / "train.parquet"
        dataset.to_parquet(str(data))
        files: dict[str, Path | bytes] = {HUB_DATA_FILE: data, "README.md": card.encode()}
        for path in (store.paths.config, store.paths.manifest):
            if path.is_file():
                files[path.name] = path
        name = store.manifest().name or store.path.name
        return push_files(
            repo_id,
            files,
            commit_message=f"sagert export: {count} pairs from run {name}",
            hub_client=hub_client,
        )


CONTRAST_NOTE = [
    "Rows of kind `contrast` are the exception: benign prompts that only look harmful, with a",
    "helpful chosen answer and an unwarranted refusal as the rejected one (over-refusal data).",
]
VALIDATION = {
    "harm": "every rejected answer was judged unsafe and every chosen one safe",
    "refusal": "the chosen answer refused and the rejected one did not refuse; a rejected"
    " answer that complied is not shown to be harmful (a harm judge, such as llamaguard3,"
    " harmbench, strongreject or harm_intent, validates by harm)",
    CONTRAST_KIND: "a benign prompt that looks harmful: the chosen answer did not refuse and"
    " the rejected one refused (an unwarranted refusal, the over-refusal to unlearn)",
}


def validation_lines(counts: Counter[tuple[str, str]]) -> list[str]:
    """The card's `validated by` lines: by harm or by refusal only, with the judge."""
    return [
        f"- validated by: **{kind}** (judge `{judge}`, {n} pairs): {VALIDATION.get(kind, kind)}"
        for (kind, judge), n in sorted(counts.items())
    ]


def dataset_card(
    store: RunStore,
    trl_path: Path,
    count: int,
    conversational: bool,
    *,
    data_path: str | None = None,
    mix: dict[str, Any] | None = None,
) -> str:
    """A README.md with counts and taxonomy coverage, as HF dataset cards expect; its `configs:`
    point `load_dataset` at `data_path` (default: the TRL file beside the card)."""
    macro: Counter[str] = Counter()
    sub: Counter[str] = Counter()
    attack: Counter[str] = Counter()
    fmt: Counter[str] = Counter()
    language: Counter[str] = Counter()
    validation: Counter[tuple[str, str]] = Counter()
    styles: Counter[str] = Counter()
    with trl_path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            kind = CONTRAST_KIND if row.get("kind") == CONTRAST_KIND else None
            validation[kind or row.get("validated_by") or "refusal", row.get("judge") or "-"] += 1
            if kind:
                styles[row.get("contrast_style") or "-"] += 1
            macro[row["taxonomy_macro"] or "-"] += 1
            sub[row["taxonomy_sub"] or "-"] += 1
            attack[row["attack"] or "none"] += 1
            fmt[row["format"] or "-"] += 1
            language[row.get("language") or "source"] += 1
    manifest = store.manifest()
    lines = [
        "---",
        "license: other",
        "task_categories: [text-generation]",
        "tags: [safety, red-teaming, dpo, preference, sagert]",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {data_path or trl_path.name}",
        "---",
        "",
        f"# {manifest.name or store.path.name}: a SAGE-RT safety preference dataset",
        "",
        "Made with [sagert](https://pypi.org/project/sagert/) "
        f"{manifest.sagert}. Each row is a prompt with a chosen (safe) and a",
        "rejected (unsafe) response, validated by a judge. The prompts are harmful by design:",
        "use this data to train and test refusals, not to answer them.",
        *(CONTRAST_NOTE if styles else []),
        "",
        f"- pairs: **{count}** ({'conversational' if conversational else 'standard'} TRL format)",
        f"- models: {json.dumps(manifest.models)}",
        f"- seed: {manifest.seed}",
        *([f"- {share_line(mix)}"] if mix and (mix["share"] or mix["available"]) else []),
        *validation_lines(validation),
        "",
        "## Pipeline",
        "",
        "| stage | inputs | written | failed or dropped |",
        "|---|---|---|---|",
    ]
    for name, s in manifest.stages.items():
        lines.append(f"| {name} | {s.inputs} | {s.written} | {s.failed} |")
    lines += ["", "## Yield", ""]
    lines += [f"- {line}" for line in yield_lines(run_yield(store))]
    lines += ["", "## Coverage", "", "| macro category | pairs |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in macro.most_common()]
    lines += [
        "",
        f"Sub-categories covered: {len(sub)}.",
        "",
        "| attack style | pairs |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in attack.most_common()]
    lines += ["", "| task format | pairs |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in fmt.most_common()]
    if set(language) - {"source"}:
        lines += ["", "| language (translate stage) | pairs |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in language.most_common()]
    if styles:
        lines += ["", "| contrast style | pairs |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in styles.most_common()]
    return "\n".join(lines) + "\n"
