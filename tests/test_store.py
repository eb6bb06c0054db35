"""Run store: append-only stage files, torn tails, resume keys, manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagert.core.errors import UserError
from sagert.core.ids import stable_id
from sagert.settings.run import RunConfig
from sagert.store.jsonl import StageFile, read_records
from sagert.store.records import Record
from sagert.store.run import RunStore


def rec(i: int) -> Record:
    src = Record(id=stable_id("src", i), stage="source", prompt=f"prompt {i}")
    return src.child("respond", meta={"i": i})


def test_stable_ids_follow_lineage():
    a = Record(id=stable_id("src", 1), stage="source", prompt="p")
    assert a.child("evolve", 0).id == a.child("evolve", 0).id
    assert a.child("evolve", 0).id != a.child("evolve", 1).id
    assert a.child("evolve", 0).parent_id == a.id


def test_append_and_resume_index(tmp_path: Path):
    path = tmp_path / "s.jsonl"
    with StageFile(path) as out:
        for i in range(5):
            out.append([rec(i)])
    again = StageFile(path)
    assert again.count == 5 and all(again.is_done(rec(i).parent_id) for i in range(5))
    assert not again.is_done(rec(6).parent_id)
    again.close()
    assert [r.meta["i"] for r in read_records(path)] == [0, 1, 2, 3, 4]


def test_torn_last_line_is_dropped(tmp_path: Path):
    path = tmp_path / "s.jsonl"
    with StageFile(path) as out:
        out.append([rec(0), rec(1)])
    whole = path.read_bytes()
    line = rec(2).model_dump_json().encode()
    path.write_bytes(whole + line[: len(line) // 2])  # a crash in the middle of a write
    with StageFile(path) as out:
        assert out.torn_bytes == len(line) // 2 and out.count == 2
        assert not out.is_done(rec(2).parent_id)
        out.append([rec(2)])
    rows = path.read_text().splitlines()
    assert [json.loads(r)["meta"]["i"] for r in rows] == [0, 1, 2]


def test_corrupt_middle_line_is_an_error_not_a_silent_drop(tmp_path: Path):
    path = tmp_path / "s.jsonl"
    path.write_text(rec(0).model_dump_json() + "\n{garbage\n" + rec(1).model_dump_json() + "\n")
    with pytest.raises(UserError) as info:
        StageFile(path)
    assert "line 2" in info.value.one_line() and str(path) in info.value.one_line()


def test_multi_record_append_is_one_write(tmp_path: Path):
    """Records from one input go out in one write(2): a crash keeps all of them or none."""
    path = tmp_path / "s.jsonl"
    src = Record(id="x", stage="source", prompt="p")
    kids = [src.child("extract", k) for k in range(3)]
    with StageFile(path) as out:
        out.append(kids)
        assert out.is_done("x") and out.count == 3


def test_run_store_manifest_and_config(tmp_path: Path):
    config = RunConfig(name="t", runs_dir=tmp_path, seed=5)
    store = RunStore(config.run_dir)
    assert store.open(config) == []
    manifest = json.loads(store.paths.manifest.read_text())
    assert manifest["seed"] == 5 and manifest["name"] == "t"
    assert "xllamacpp" in manifest["packages"]
    assert manifest["models"]["judge"] == "llamacpp/smollm2"
    assert "name: t" in store.paths.config.read_text()
    # same config again: no warning; a changed config: one warning, history grows
    assert store.open(config) == []
    changed = config.model_copy(update={"seed": 6})
    warnings = store.open(changed)
    assert len(warnings) == 1 and "config changed" in warnings[0]
    assert len(json.loads(store.paths.manifest.read_text())["config_history"]) == 2
