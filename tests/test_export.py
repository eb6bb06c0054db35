"""Pair validation and export: TRL format, JSONL, Parquet, HF DatasetDict, dataset card."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import FAST_RETRY, env_with_tests, sagert_cmd
from sagert.stages.pairs import decide_pair
from sagert.store.records import Record


def mock_run_config(responder: str, n_samples: int = 10) -> dict:
    """A small generation run on the mock generator (scripted by a mock_responders function)."""
    return {
        "name": "x",
        "taxonomy": "harmbench",
        "models": {
            "generator": {
                "model": "mock/gen",
                "retry": FAST_RETRY,
                "args": {"responder": f"mock_responders:{responder}"},
            }
        },
        "stages": {
            "expand": {"depth": 0},
            "sample": {"n_samples": n_samples},
            "extract": {"queries_per_text": 1},
            "evolve": {"rounds": 0},
            "dedup": {"exact": False, "minhash": False},
            "attack": {"per_prompt": 1, "styles": ["base64", "leetspeak"]},
        },
    }


def build_run(tmp_path: Path, write_config, responder: str, **export) -> Path:
    config = write_config({**mock_run_config(responder), "export": export or {"formats": ["trl"]}})
    env = env_with_tests()
    proc = subprocess.run(
        [*sagert_cmd(), "generate", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "runs" / "x"


def test_dropped_pairs_say_why(tmp_path: Path, write_config):
    run_dir = build_run(tmp_path, write_config, "sometimes_unsafe_aligned")
    rows = [json.loads(x) for x in (run_dir / "stages" / "pairs.jsonl").read_text().splitlines()]
    kept = [r for r in rows if r["status"] == "ok"]
    dropped = [r for r in rows if r["status"] == "failed"]
    assert kept and dropped and len(rows) == 20
    assert all("chosen not safe (complied)" in r["failure"]["reason"] for r in dropped)
    exported = (run_dir / "export" / "train.jsonl").read_text().splitlines()
    assert len(exported) == len(kept)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["pairs"]["failed"] == len(dropped)


def _record(chosen: list[str], rejected: list[str]) -> Record:
    return Record(
        id="r",
        stage="judge",
        prompt="p",
        scores={
            "j": {
                "chosen": [{"verdict": v} for v in chosen],
                "rejected": [{"verdict": v} for v in rejected],
            }
        },
    )


@pytest.mark.parametrize(
    ("chosen", "rejected", "keep", "reason"),
    [
        (["safe"], ["unsafe"], True, "kept"),
        (["refused"], ["complied"], True, "kept"),
        (["unsafe", "safe"], ["safe", "unsafe"], True, "kept"),
        (["error"], ["unsafe"], False, "chosen judge error"),
        (["safe"], ["error"], False, "rejected judge error"),
        (["unsafe"], ["unsafe"], False, "chosen not safe"),
        (["safe"], ["safe"], False, "rejected not unsafe"),
        ([], ["unsafe"], False, "no answer"),
    ],
)
def test_decide_pair_never_counts_a_judge_error(chosen, rejected, keep, reason):
    decision = decide_pair(_record(chosen, rejected), "j")
    assert decision.keep is keep and reason in decision.reason


def test_export_formats_load_with_datasets(tmp_path: Path, write_config):
    datasets = pytest.importorskip("datasets")
    run_dir = build_run(
        tmp_path, write_config, "pipeline", formats=["trl", "jsonl", "parquet", "hf"]
    )
    out = run_dir / "export"
    from_json = datasets.load_dataset("json", data_files=str(out / "train.jsonl"), split="train")
    from_parquet = datasets.load_dataset(
        "parquet", data_files=str(out / "train.parquet"), split="train"
    )
    saved = datasets.load_from_disk(str(out / "hf"))
    assert len(from_json) == len(from_parquet) == len(saved["train"]) == 20
    assert set(from_json.column_names) == set(from_parquet.column_names)
    for column in (
        "prompt",
        "chosen",
        "rejected",
        "taxonomy_macro",
        "format",
        "attack",
        "lineage",
        "chosen_verdict",
        "rejected_verdict",
        "judge",
    ):
        assert column in from_json.column_names
    row = from_json[0]
    assert isinstance(row["prompt"], str) and isinstance(json.loads(row["lineage"]), list)
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 20 and all(r["meta"]["pair"]["judge"] == "refusal" for r in records)
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "pairs: **20**" in card and "| base64 |" in card


def test_conversational_export(tmp_path: Path, write_config):
    run_dir = build_run(tmp_path, write_config, "pipeline")
    proc = subprocess.run(
        [*sagert_cmd(), "export", str(run_dir), "--conversational"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    row = json.loads(
        (run_dir / "export" / "train.conversational.jsonl").read_text().splitlines()[0]
    )
    assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"


def test_export_without_pairs_is_one_line(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(
        [*sagert_cmd(), "export", str(tmp_path / "empty")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "sagert generate" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
