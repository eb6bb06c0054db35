"""Pair validation and export: TRL format, JSONL, Parquet, HF DatasetDict, dataset card."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from conftest import FAST_RETRY, env_with_tests, sagert_cmd
from sagert.core.errors import UserError
from sagert.stages.pairs import decide_pair
from sagert.store.records import Record
from sagert.workflows.export import HUB_DATA_FILE, export_run
from sagert.workflows.hub import TOKEN_ENVS, hub_token


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


SECRET = "hf_sagert-test-0a1b2c3d4e5f-SECRET"


class FakeHub:
    """Stands in for `huggingface_hub.HfApi`: records what a push would send, no network."""

    made: ClassVar[list[FakeHub]] = []

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.repos: list[tuple[str, dict]] = []
        self.commits: list[tuple[str, dict[str, bytes], dict]] = []
        FakeHub.made.append(self)

    def create_repo(self, repo_id: str, **kwargs) -> SimpleNamespace:
        self.repos.append((repo_id, kwargs))
        return SimpleNamespace(repo_id=repo_id)

    def create_commit(self, repo_id: str, operations, **kwargs) -> None:
        files = {}
        for op in operations:  # read now: a staged file may be gone after the commit
            with op.as_file() as fh:
                files[op.path_in_repo] = fh.read()
        self.commits.append((repo_id, files, kwargs))


def test_push_to_hub_sends_data_card_config_and_manifest_in_one_commit(
    tmp_path: Path, write_config, monkeypatch: pytest.MonkeyPatch
):
    datasets = pytest.importorskip("datasets")
    pytest.importorskip("huggingface_hub")
    run_dir = build_run(tmp_path, write_config, "pipeline")
    monkeypatch.setenv("HF_TOKEN", SECRET)
    FakeHub.made.clear()
    written = export_run(run_dir, ["trl"], push_to_hub="me/sage-rt", hub_client=FakeHub)
    (hub,) = FakeHub.made
    assert hub.token == SECRET
    private = {"repo_type": "dataset", "private": True, "exist_ok": True}
    assert hub.repos == [("me/sage-rt", private)]
    ((repo_id, files, options),) = hub.commits
    assert repo_id == "me/sage-rt" and options["repo_type"] == "dataset"
    assert set(files) == {"README.md", HUB_DATA_FILE, "config.yaml", "manifest.json"}
    card = files["README.md"].decode()
    assert card.startswith("---\n") and "pairs: **20**" in card and "| base64 |" in card
    assert "path: data/train-*" in card  # the Hub card names the Parquet, not train.jsonl
    assert "path: train.jsonl" in written["card"].read_text()  # the local card its own file
    assert files["config.yaml"] == (run_dir / "config.yaml").read_bytes()
    assert files["manifest.json"] == (run_dir / "manifest.json").read_bytes()
    # The repo as the Hub would hold it loads by its card, as `load_dataset(REPO)` would.
    repo = tmp_path / "repo"
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(content)
    loaded = datasets.load_dataset(str(repo))
    assert list(loaded) == ["train"] and len(loaded["train"]) == 20
    assert {"prompt", "chosen", "rejected", "taxonomy_macro"} <= set(loaded["train"].column_names)
    # The token went to the client only: not into what was sent nor into the run folder.
    for name, content in files.items():
        assert SECRET.encode() not in content, name
    for path in (p for p in run_dir.rglob("*") if p.is_file()):
        assert SECRET.encode() not in path.read_bytes(), path


def test_push_without_a_token_fails_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name in TOKEN_ENVS:
        monkeypatch.delenv(name, raising=False)

    def no_client(**_: object) -> None:
        raise AssertionError("no client without a token")

    with pytest.raises(UserError) as info:
        export_run(tmp_path / "no-such-run", ["trl"], push_to_hub="me/x", hub_client=no_client)
    assert "HF_TOKEN" in info.value.one_line()
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "fallback")
    assert hub_token() == "fallback"
    monkeypatch.setenv("HF_TOKEN", "first")
    assert hub_token() == "first"
