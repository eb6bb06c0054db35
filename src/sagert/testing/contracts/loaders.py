"""The loader contract: source records streamed from a file, with stable ids and flags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sagert.core.errors import UserError
from sagert.core.ids import stable_id
from sagert.loaders import load_prompts, loaders
from sagert.store.records import Record
from sagert.testing.contracts.base import ContractError, require

SOURCE = "contract-source"
SOURCE_STAGE = "source"


def check_loader(name: str, sample: Path, *, bad: Path | None = None) -> None:
    """Check the registered loader `name` on a `sample` file it reads; ContractError if broken.

    `bad`, when given, is a file the loader must refuse with a one-line UserError.
    """
    who = f"loader {name!r}"
    require(
        name in loaders,
        who,
        f"is not registered: decorate the function with @loaders.register({name!r}, 'one line')",
    )
    entry = next(e for e in loaders if e.name == name)
    require(entry.description, who, "registered without a description")
    stream = load_prompts(sample, name, name=SOURCE)
    require(
        isinstance(stream, Iterator),
        who,
        f"returned {type(stream).__name__}; yield records (a generator) so big files stream",
    )
    records = list(stream)
    require(records, who, f"no records from {sample}")
    for i, record in enumerate(records):
        at = f"{who}, record {i}"
        require(isinstance(record, Record), at, f"is a {type(record).__name__}, not a Record")
        require(record.stage == SOURCE_STAGE, at, f"stage {record.stage!r}, not 'source'")
        require(isinstance(record.prompt, str) and record.prompt.strip(), at, "has no prompt")
        require(record.seed_prompt, at, "has no seed_prompt")
        require(record.meta.get("source") == SOURCE, at, "meta['source'] is not the source name")
        require("row" in record.meta, at, "has no meta['row']")
        require(
            record.id == stable_id(SOURCE, record.meta["row"], record.prompt),
            at,
            "id is not stable_id(source, row, prompt): build records with source_record()",
        )
    ids = [r.id for r in records]
    require(len(set(ids)) == len(ids), who, "two records share an id")
    again = [r.id for r in load_prompts(sample, name, name=SOURCE)]
    require(again == ids, who, "a second load gave other ids or another order")
    for flag in (True, False):
        marked = list(load_prompts(sample, name, name=SOURCE, benign=flag))
        require(
            all(r.meta.get("benign") is flag for r in marked),
            who,
            f"benign={flag} was not applied to every record (source_record() does it)",
        )
    if bad is not None:
        _check_refuses(name, bad, who)


def _check_refuses(name: str, bad: Path, who: str) -> None:
    try:
        list(load_prompts(bad, name, name=SOURCE))
    except UserError as exc:
        line = exc.one_line()
        require("\n" not in line, who, f"the error for {bad} is more than one line")
        return
    except Exception as exc:
        raise ContractError(
            f"{who}: {bad} raised {type(exc).__name__}: {exc}; raise UserError naming the file, "
            "the row and the fix"
        ) from exc
    raise ContractError(f"{who}: {bad} was accepted; it should be a UserError")
