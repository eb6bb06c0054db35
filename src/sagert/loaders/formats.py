"""Prompt loaders: benchmark files and sagert runs in, source Records out, streamed.

Every loader yields Records with a stable id (source name, row, prompt), the prompt, the
taxonomy path when the source has categories, `meta["benign"]` when the source says, and
`meta["source"]`. A bad file is a UserError naming the file, the row or field, and the fix.
"""

from __future__ import annotations

import csv
import importlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.core.ids import stable_id
from sagert.core.registry import Registry
from sagert.store.paths import RunPaths
from sagert.store.records import LineageStep, Record, TaxonomyPath
from sagert.taxonomy import LEVELS, load_taxonomy, slugify

SOURCE_STAGE = "source"
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
RUN_PROMPT_STAGES = ("attack", "dedup", "evolve", "extract")
RUN_EXPORT_FILES = ("records.jsonl", "train.jsonl")
KEPT_RUN_META = ("attack", "evolution", "region", "language", "topic", "category_path", "benign")
ALERT_WRAP = re.compile(r"^\s*### Instruction:\s*\n(?P<text>.*?)\n\s*### Response:\s*$", re.S)
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "safe", "benign"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "unsafe", "harmful"})


@dataclass(frozen=True)
class LoaderOptions:
    """How a source maps onto records (what `PromptSource` carries, minus path and limits)."""

    name: str
    column: str | None = None
    category_column: str | None = None
    benign_column: str | None = None
    benign: bool | None = None


Loader = Callable[[Path, LoaderOptions], Iterator[Record]]
loaders: Registry[Loader] = Registry("loader")


@dataclass(frozen=True)
class Row:
    index: int
    """1-based data row: part of the record id."""
    where: str
    """For error messages: "row 3 (line 4)", "line 7"."""
    data: dict[str, Any]


# --- reading tables -----------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UserError("prompt file not found", file=path, fix="check the path")
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise UserError(
            f"unsupported file type {path.suffix or '(none)'}",
            file=path,
            fix="use .csv, .tsv, .jsonl, .json or .parquet, or a sagert run folder",
        )


def _open_text(path: Path) -> Any:
    return path.open(encoding="utf-8-sig", newline="")


def _decode_errors(path: Path) -> UserError:
    return UserError("not UTF-8 text", file=path, fix="save the file as UTF-8")


def columns(path: Path) -> list[str]:
    """The file's column names (JSONL: the first object's keys), without reading it all."""
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        pq = _pyarrow_parquet(path)
        return list(pq.read_schema(path).names)
    if suffix in {".csv", ".tsv"}:
        try:
            with _open_text(path) as fh:
                header = next(csv.reader(fh, delimiter=_delimiter(path)), None)
        except UnicodeDecodeError:
            raise _decode_errors(path) from None
        return list(header or [])
    for row in _json_rows(path):
        return list(row.data)
    return []


def rows(path: Path) -> Iterator[Row]:
    """Every data row as a dict, streamed (a .json array is the one exception: read whole)."""
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_rows(path)
    if suffix in {".csv", ".tsv"}:
        return _csv_rows(path)
    return _json_rows(path)


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _csv_rows(path: Path) -> Iterator[Row]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with _open_text(path) as fh:
            reader = csv.DictReader(fh, delimiter=_delimiter(path))
            for index, data in enumerate(reader, 1):
                if None in data:
                    raise UserError(
                        "more cells than header columns",
                        file=path,
                        field=f"row {index} (line {reader.line_num})",
                        fix="quote cells that contain the delimiter",
                    )
                yield Row(index, f"row {index} (line {reader.line_num})", dict(data))
    except UnicodeDecodeError:
        raise _decode_errors(path) from None
    except csv.Error as exc:
        raise UserError(f"not valid CSV: {exc}", file=path, fix="check the quoting") from None


def _json_rows(path: Path) -> Iterator[Row]:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            first = fh.read(1)
            while first.isspace():
                first = fh.read(1)
            fh.seek(0)
            if first == "[":
                yield from _json_array(path, fh.read())
                return
            index = 0
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    raise UserError(
                        "not a JSON object",
                        file=path,
                        field=f"line {line_no}",
                        fix="one JSON object per line (JSONL)",
                    )
                index += 1
                yield Row(index, f"line {line_no}", data)
    except UnicodeDecodeError:
        raise _decode_errors(path) from None


def _json_array(path: Path, text: str) -> Iterator[Row]:
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise UserError(f"not valid JSON: {exc}", file=path, fix="a JSON list of objects") from None
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise UserError(
                "not a JSON object", file=path, field=f"item {index}", fix="a list of objects"
            )
        yield Row(index, f"item {index}", item)


def _pyarrow_parquet(path: Path) -> Any:
    try:
        return importlib.import_module("pyarrow.parquet")  # optional, untyped: loaded by name
    except ImportError:
        raise UserError(
            "reading Parquet needs pyarrow", file=path, fix="pip install 'sagert[hf]'"
        ) from None


def _parquet_rows(path: Path) -> Iterator[Row]:
    pq = _pyarrow_parquet(path)
    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own error types
        raise UserError(f"not a Parquet file: {exc}", file=path, fix="check the file") from None
    index = 0
    for batch in handle.iter_batches(batch_size=1024):
        for data in batch.to_pylist():
            index += 1
            yield Row(index, f"row {index}", data)


# --- building records ---------------------------------------------------------------------


def require_columns(path: Path, needed: tuple[str, ...], loader: str) -> None:
    found = columns(path)
    missing = [c for c in needed if c not in found]
    if missing:
        raise UserError(
            f"no {missing[0]!r} column for the {loader} loader (columns: {', '.join(found)})",
            file=path,
            fix="check the file, or pass --loader NAME / set the column options",
        )


def text_field(row: Row, column: str, path: Path, *, required: bool = True) -> str | None:
    """A non-empty text cell; a conversation (list of messages) gives its last user turn."""
    value = row.data.get(column)
    if isinstance(value, list):
        users = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == "user"]
        value = users[-1] if users else None
    if value is None or (isinstance(value, str) and not value.strip()):
        if not required:
            return None
        missing = column not in row.data
        raise UserError(
            f"no {column!r} field" if missing else f"{column!r} is empty",
            file=path,
            field=row.where,
            fix="give the prompt text, or remove the row" if not missing else "add it",
        )
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise UserError(
            f"{column!r} must be text, not {type(value).__name__}",
            file=path,
            field=row.where,
            fix="give text",
        )
    return value


def parse_benign(value: Any, path: Path, where: str, column: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UserError(
        f"{column!r} value {value!r} is not a yes/no",
        file=path,
        field=where,
        fix="use true/false, 1/0, yes/no, safe/unsafe or benign/harmful",
    )


def source_record(
    opts: LoaderOptions,
    key: int | str,
    prompt: str,
    *,
    taxonomy: TaxonomyPath | None = None,
    benign: bool | None = None,
    format: str | None = None,
    meta: dict[str, Any] | None = None,
    seed_prompt: str | None = None,
    persona: str | None = None,
    lineage: list[LineageStep] | None = None,
) -> Record:
    """The one shape every loader yields; `opts.benign` overrides what the file says."""
    data: dict[str, Any] = {"source": opts.name, "row": key, **(meta or {})}
    data.pop("benign", None)
    flag = opts.benign if opts.benign is not None else benign
    if flag is not None:
        data["benign"] = flag
    return Record(
        id=stable_id(opts.name, key, prompt),
        stage=SOURCE_STAGE,
        prompt=prompt,
        seed_prompt=seed_prompt or prompt,
        taxonomy=taxonomy or TaxonomyPath(),
        format=format,
        persona=persona,
        lineage=lineage or [],
        meta=data,
    )


def category_path(value: str | None) -> TaxonomyPath:
    """'macro/sub/leaf' (or '>' between levels) fills the levels in order."""
    if not value or not str(value).strip():
        return TaxonomyPath()
    parts = [p.strip() for p in re.split(r"[/>]", str(value)) if p.strip()]
    return TaxonomyPath(**dict(zip(LEVELS, parts[: len(LEVELS)], strict=False)))


def _builtin_category(taxonomy: str, value: str | None) -> TaxonomyPath:
    """A category by key, alias or display name in a built-in taxonomy; else the raw value."""
    if not value or not value.strip():
        return TaxonomyPath()
    index = _category_index(taxonomy)
    path = index.get(value.strip().casefold()) or index.get(slugify(value))
    if path is None:
        return TaxonomyPath(macro=value.strip())
    return TaxonomyPath(**dict(zip(LEVELS, path, strict=False)))


@cache
def _category_index(taxonomy: str) -> dict[str, tuple[str, ...]]:
    """Every name a node answers to (key, aliases, display name casefolded) -> its path."""
    index: dict[str, tuple[str, ...]] = {}
    for path, node in load_taxonomy(taxonomy).walk():
        for name in (*node.all_keys(), node.name.casefold()):
            index.setdefault(name, path)
    return index


# --- loaders ------------------------------------------------------------------------------


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
            taxonomy=_builtin_category("harmbench", row.data.get("SemanticCategory")),
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
            taxonomy=_builtin_category("jailbreakbench", row.data.get("Category")),
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


@loaders.register("sagert", "A sagert run folder, stage file or export (train/records.jsonl).")
def load_sagert(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    path = run_prompt_file(path)
    cols = set(columns(path))
    if {"id", "stage"} <= cols:
        yield from _run_records(path, opts)
    else:
        require_columns(path, ("prompt",), "sagert")
        yield from _export_rows(path, opts)


def run_prompt_file(path: Path) -> Path:
    """A run folder's prompts: its attack stage, else dedup, evolve, extract, the export."""
    if not path.is_dir():
        return path
    paths = RunPaths(path)
    candidates = [
        *(paths.stage(name) for name in RUN_PROMPT_STAGES),
        *(paths.export_file(name) for name in RUN_EXPORT_FILES),
    ]
    for candidate in candidates:
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    raise UserError(
        "no prompts in this folder",
        file=path,
        fix="give a sagert run with stages/attack.jsonl (or evolve/extract), or a prompt file",
    )


def _run_records(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    for row in rows(path):
        try:
            record = Record.model_validate(row.data)
        except ValueError:
            raise UserError(
                "not a sagert record", file=path, field=row.where, fix="give a stage file"
            ) from None
        if record.status != "ok":
            continue
        if not record.prompt or not record.prompt.strip():
            raise UserError(
                f"a {record.stage!r} record has no prompt",
                file=path,
                field=row.where,
                fix="use a stage with prompts: attack, evolve or extract, or export/train.jsonl",
            )
        meta = {k: record.meta[k] for k in KEPT_RUN_META if k in record.meta}
        yield source_record(
            opts,
            record.id,
            record.prompt,
            taxonomy=record.taxonomy,
            benign=meta.get("benign"),
            format=record.format,
            persona=record.persona,
            seed_prompt=record.seed_prompt,
            lineage=record.lineage,
            meta={**meta, "origin_id": record.id},
        )


def _export_rows(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    for row in rows(path):
        prompt = text_field(row, "prompt", path)
        assert prompt is not None
        d = row.data
        taxonomy = TaxonomyPath(**{lvl: d.get(f"taxonomy_{lvl}") or None for lvl in LEVELS})
        meta = {k: d[k] for k in ("attack", "evolution", "region", "topic") if d.get(k)}
        lineage: list[LineageStep] = []
        if isinstance(d.get("lineage"), str):
            try:
                lineage = [LineageStep.model_validate(s) for s in json.loads(d["lineage"])]
            except ValueError:
                lineage = []
        key = str(d["id"]) if d.get("id") else row.index
        yield source_record(
            opts,
            key,
            prompt,
            taxonomy=taxonomy,
            format=d.get("format") or None,
            persona=d.get("persona") or None,
            seed_prompt=d.get("seed_prompt") or None,
            lineage=lineage,
            meta={**meta, "origin_id": d.get("id")} if d.get("id") else meta,
        )


@loaders.register("generic", "Any CSV/TSV/JSONL/Parquet with a prompt column (column options).")
def load_generic(path: Path, opts: LoaderOptions) -> Iterator[Record]:
    column = opts.column or "prompt"
    needed = tuple(c for c in (column, opts.category_column, opts.benign_column) if c)
    found = columns(path)
    missing = [c for c in needed if c not in found]
    if missing:
        option = "column" if missing[0] == column else "category_column/benign_column"
        raise UserError(
            f"no {missing[0]!r} column (columns: {', '.join(found)})",
            file=path,
            fix=f"rename it, or set {option} (--column) to one of the columns",
        )
    for row in rows(path):
        prompt = text_field(row, column, path)
        assert prompt is not None
        benign = None
        if opts.benign_column:
            benign = parse_benign(
                row.data.get(opts.benign_column), path, row.where, opts.benign_column
            )
        category = row.data.get(opts.category_column) if opts.category_column else None
        yield source_record(
            opts,
            row.index,
            prompt,
            taxonomy=category_path(str(category) if category is not None else None),
            benign=benign,
        )


# --- choosing a loader --------------------------------------------------------------------


def detect_loader(path: Path) -> str:
    """The loader for a file or folder, from its columns (and name where columns are generic)."""
    if path.is_dir():
        run_prompt_file(path)
        return "sagert"
    cols = set(columns(path))
    name = path.name.lower()
    if {"Behavior", "FunctionalCategory", "SemanticCategory"} <= cols:
        return "harmbench"
    if {"Goal", "Category"} <= cols:
        return "jailbreakbench"
    if "goal" in cols and ("target" in cols or "advbench" in name or "harmful_behav" in name):
        return "advbench"
    if {"prompt", "type", "label"} <= cols:
        return "xstest"
    if {"id", "stage", "prompt"} <= cols or {"prompt", "chosen", "rejected"} <= cols:
        return "sagert"
    if {"prompt", "category"} <= cols and ("alert" in name or _alert_wrapped(path)):
        return "alert"
    return "generic"


def _alert_wrapped(path: Path) -> bool:
    for row in rows(path):
        return ALERT_WRAP.match(str(row.data.get("prompt") or "")) is not None
    return False


def default_source_name(path: Path, loader: str) -> str:
    """Benchmarks are named after themselves; other files after their stem."""
    if loader not in {"generic", "sagert"}:
        return loader
    stem = path.name if path.is_dir() else path.stem
    return slugify(stem) or "prompts"


def load_prompts(
    path: Path,
    loader: str | None = None,
    *,
    name: str | None = None,
    column: str | None = None,
    category_column: str | None = None,
    benign_column: str | None = None,
    benign: bool | None = None,
) -> Iterator[Record]:
    """Source records from a file or run, with the named loader or the detected one."""
    if not path.exists():
        raise UserError("prompt file not found", file=path, fix="check the path")
    chosen = loader or detect_loader(path)
    function = loaders.get(chosen)
    opts = LoaderOptions(
        name=name or default_source_name(path, chosen),
        column=column,
        category_column=category_column,
        benign_column=benign_column,
        benign=benign,
    )
    return function(path, opts)
