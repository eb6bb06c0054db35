"""The generation stages end to end on the mock provider (prompts and parses), and resume."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml

from conftest import FAST_RETRY, env_with_tests, sagert_cmd
from sagert.generation.sample import sample_records
from sagert.settings.stages import SampleStage
from sagert.taxonomy import load_taxonomy


def mock_generator(responder: str = "mock_responders:pipeline") -> dict:
    return {
        "generator": {"model": "mock/gen", "retry": FAST_RETRY, "args": {"responder": responder}}
    }


def run_sagert(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = env_with_tests()
    return subprocess.run(
        [*sagert_cmd(), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def rows(run_dir: Path, stage: str) -> list[dict]:
    path = run_dir / "stages" / f"{stage}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


SMALL = {
    "taxonomy": "sage",
    "stages": {
        "expand": {"depth": 2, "breadth": 2, "max_nodes_per_round": 3},
        "sample": {"n_samples": 6},
        "extract": {"queries_per_text": 2},
        "evolve": {"rounds": 2},
        "dedup": {"exact": False, "minhash": False},  # the mock's prompts are near-duplicates
        "attack": {
            "per_prompt": 2,
            "compose": 2,
            "styles": ["base64", "roleplay", "leetspeak", "past_tense"],
        },
    },
}


def test_generate_pipeline_on_mock(tmp_path: Path, write_config):
    config = write_config({"name": "g", "models": mock_generator(), **SMALL})
    proc = run_sagert("generate", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "runs" / "g"

    tree = yaml.safe_load((run_dir / "taxonomy.yaml").read_text())
    assert tree["name"] == "sage"
    expand = rows(run_dir, "expand")
    assert len(expand) == 3 + 3  # 3 nodes sampled per round, 2 rounds
    for r in expand:
        names = [c["name"] for c in r["meta"]["children"]]
        assert len(names) == len(set(names)) == 2

    raw = rows(run_dir, "raw_text")
    assert len(raw) == 6 and all(r["meta"]["raw_text"].startswith("Raw text") for r in raw)
    assert all(r["format"] and r["taxonomy"]["macro"] for r in raw)

    extracted = rows(run_dir, "extract")
    assert len(extracted) == 12  # 2 queries per text
    assert all(r["seed_prompt"] == r["prompt"] and r["meta"]["rationale"] for r in extracted)

    evolved = rows(run_dir, "evolve")
    assert len(evolved) == 12
    for r in evolved:
        assert len(r["lineage"]) == 2 and r["lineage"][0]["name"].startswith("evolution:")
        assert r["lineage"][0]["after"] == r["lineage"][1]["before"]
        assert r["lineage"][-1]["after"] == r["prompt"]

    attacked = rows(run_dir, "attack")
    assert len(attacked) == 12 * 3  # plain + 2 variants
    kinds = Counter(r["meta"]["attack"] for r in attacked)
    assert kinds["none"] == 12
    assert all(len(r["lineage"]) == 4 for r in attacked if r["meta"]["attack"] != "none")
    assert len({r["id"] for r in attacked}) == len(attacked)

    responses = rows(run_dir, "responses")
    assert len(responses) == len(attacked)
    assert all(r["responses"]["chosen"][0]["text"].startswith("I can't") for r in responses)
    judged = rows(run_dir, "judge")
    assert all(r["scores"]["refusal"]["chosen"][0]["verdict"] == "refused" for r in judged)
    assert all(r["scores"]["refusal"]["rejected"][0]["verdict"] == "complied" for r in judged)
    pairs = rows(run_dir, "pairs")
    assert len(pairs) == len(attacked) and all(r["status"] == "ok" for r in pairs)

    export = run_dir / "export" / "train.jsonl"
    exported = [json.loads(line) for line in export.read_text().splitlines()]
    assert len(exported) == len(pairs)
    first = exported[0]
    assert {"prompt", "chosen", "rejected", "taxonomy_macro", "attack", "lineage"} <= set(first)
    assert "pairs: **36**" in (run_dir / "export" / "README.md").read_text()

    again = run_sagert("generate", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert all(
        s["calls"].get("mock/gen", {}).get("calls", 0) == 0 for s in manifest["stages"].values()
    )
    assert len(rows(run_dir, "attack")) == len(attacked)


def test_expand_resumes_without_redoing_finished_nodes(tmp_path: Path, write_config):
    config = write_config(
        {
            "name": "e",
            "cache": False,
            "taxonomy": "harmbench",
            "models": mock_generator(),
            "stages": {"expand": {"depth": 1, "breadth": 3}},
        }
    )
    assert run_sagert("taxonomy", "expand", str(config), cwd=tmp_path).returncode == 0
    run_dir = tmp_path / "runs" / "e"
    path = run_dir / "stages" / "expand.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) == 7  # one per HarmBench category
    path.write_text("".join(lines[:4]) + lines[4][:30])  # interrupted mid-write
    proc = run_sagert("taxonomy", "expand", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stage = manifest["stages"]["expand"]
    assert stage["skipped_done"] == 4 and stage["written"] == 3
    assert stage["calls"]["mock/gen"]["calls"] == 3
    tree = load_taxonomy(run_dir / "taxonomy.yaml")
    assert tree.counts()["sub"] == 21


def test_refusing_generator_is_recorded_not_dropped(tmp_path: Path, write_config):
    config = write_config(
        {
            "name": "r",
            "models": mock_generator("mock_responders:refusing_generator"),
            "stages": {"expand": {"depth": 0}, "sample": {"n_samples": 3}},
        }
    )
    proc = run_sagert("generate", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    raw = rows(tmp_path / "runs" / "r", "raw_text")
    assert len(raw) == 3 and all(r["status"] == "failed" for r in raw)
    assert all("refused" in r["failure"]["reason"] for r in raw)
    assert all(len(r["failure"]["raw"]) == 3 for r in raw)  # every attempt's text kept
    assert not (tmp_path / "runs" / "r" / "stages" / "extract.jsonl").exists() or not rows(
        tmp_path / "runs" / "r", "extract"
    )


def test_sampling_quotas_and_reproducibility():
    tree = load_taxonomy("alert")
    settings = SampleStage(n_samples=64, formats=["question", "email", "poem", "code_request"])
    first = list(sample_records(tree, settings, seed=7))
    again = list(sample_records(tree, settings, seed=7))
    assert [r.id for r in first] == [r.id for r in again]
    per_leaf = Counter(r.taxonomy.sub for r in first)
    assert len(per_leaf) == 32 and set(per_leaf.values()) == {2}  # every leaf its share
    per_format = Counter(r.format for r in first)
    assert set(per_format.values()) == {16}
    assert len({r.persona for r in first}) > 5
    longer = list(sample_records(tree, settings.model_copy(update={"n_samples": 80}), seed=7))
    assert [r.id for r in longer[:64]] == [r.id for r in first]  # prefix-stable
    other = list(sample_records(tree, settings, seed=8))
    assert [r.id for r in other] != [r.id for r in first]


@pytest.mark.parametrize("bad", [["question", "sonnet"]])
def test_unknown_format_is_a_config_error(bad):
    from sagert.core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        list(sample_records(load_taxonomy("sage"), SampleStage(formats=bad), seed=1))
    assert "sonnet" in info.value.one_line()


def test_malformed_output_at_each_stage_is_recorded_and_the_run_goes_on(
    tmp_path: Path, write_config
):
    config = write_config(
        {
            "name": "bad",
            "models": mock_generator("mock_responders:bad_json"),
            "stages": {
                "expand": {"depth": 1, "max_nodes_per_round": 2},
                "sample": {"n_samples": 2},
            },
        }
    )
    proc = run_sagert("generate", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "runs" / "bad"
    expand = rows(run_dir, "expand")
    assert len(expand) == 2 and all(r["status"] == "failed" for r in expand)
    assert all("not JSON" in r["failure"]["reason"] for r in expand)
    assert all(r["failure"]["raw"][0].startswith("Here are some ideas") for r in expand)
    assert all(r["failure"]["attempts"] == 3 for r in expand)
    raw = rows(run_dir, "raw_text")
    assert len(raw) == 2 and all(r["status"] == "ok" for r in raw)  # the base tree was used
    extract = rows(run_dir, "extract")
    assert len(extract) == 2 and all(r["status"] == "failed" for r in extract)
    assert all("does not match the schema at queries" in r["failure"]["reason"] for r in extract)
    assert "failed or dropped this run" in proc.stdout


def test_empty_rewrites_fail_the_record_with_raw_text(tmp_path: Path, write_config):
    config = write_config(
        {
            "name": "empty",
            "models": mock_generator("mock_responders:empty_rewrites"),
            "stages": {
                "expand": {"depth": 0},
                "sample": {"n_samples": 2},
                "extract": {"queries_per_text": 1},
                "evolve": {"rounds": 1},
            },
        }
    )
    proc = run_sagert("generate", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    evolved = rows(tmp_path / "runs" / "empty", "evolve")
    assert len(evolved) == 2 and all(r["status"] == "failed" for r in evolved)
    assert all("empty answer" in r["failure"]["reason"] for r in evolved)
    assert all(r["failure"]["raw"] == ["", "", ""] for r in evolved)


def test_baseline_spends_the_same_generator_calls(tmp_path: Path, write_config):
    config = write_config({"name": "b", "models": mock_generator(), **SMALL})
    assert run_sagert("generate", str(config), cwd=tmp_path).returncode == 0
    manifest = json.loads((tmp_path / "runs" / "b" / "manifest.json").read_text())
    spent = sum(
        s["calls"].get("mock/gen", {}).get("calls", 0)
        for name, s in manifest["stages"].items()
        if name in ("expand", "raw_text", "extract", "evolve", "attack")
    )
    proc = run_sagert("baseline", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    base = rows(tmp_path / "runs" / "b-baseline", "baseline")
    assert len(base) == spent and all(r["prompt"] for r in base if r["status"] == "ok")
    base_manifest = json.loads((tmp_path / "runs" / "b-baseline" / "manifest.json").read_text())
    assert base_manifest["stages"]["baseline"]["calls"]["mock/gen"]["calls"] == spent
    assert "sagert stats" in proc.stdout


def test_baseline_prints_a_compare_command_that_works(tmp_path: Path, write_config):
    """The `compare:` line `sagert baseline` prints runs as printed (a space in the path too)."""
    tiny = {
        "taxonomy": "harmbench",
        "stages": {
            "expand": {"depth": 0},
            "sample": {"n_samples": 2},
            "extract": {"queries_per_text": 1},
            "evolve": {"rounds": 0},
            "dedup": {"exact": False, "minhash": False},
            "attack": {"per_prompt": 1, "styles": ["base64"]},
        },
    }
    runs = tmp_path / "my runs"
    config = write_config({"name": "c", "runs_dir": str(runs), "models": mock_generator(), **tiny})
    assert run_sagert("generate", str(config), cwd=tmp_path).returncode == 0
    proc = run_sagert("baseline", str(config), "--calls", "6", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("compare: ")]
    program, *args = shlex.split(line.removeprefix("compare: "))
    assert program == "sagert" and args[0] == "stats"
    assert args[1:] == [str(runs / "c"), "--compare", str(runs / "c-baseline")]
    stats = run_sagert(*args, cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    header = next(ln for ln in stats.stdout.splitlines() if "metric" in ln)
    assert "c (attack)" in header and "c-baseline (baseline)" in header


def test_dedup_runs_between_evolve_and_attack(tmp_path: Path, write_config):
    """The mock's evolved prompts differ by a number or two: near-duplicates, removed."""
    config = write_config(
        {
            "name": "d",
            "models": mock_generator(),
            **{**SMALL, "stages": {**SMALL["stages"], "dedup": {}}},
        }
    )
    proc = run_sagert("generate", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "runs" / "d"
    evolved = [r for r in rows(run_dir, "evolve") if r["status"] == "ok"]
    kept = [r for r in rows(run_dir, "dedup") if r["status"] == "ok"]
    removed = rows(run_dir, "dedup.removed")
    assert len(kept) + len(removed) == len(evolved) and removed and kept
    kept_ids = {r["id"] for r in kept}
    assert all(r["meta"]["duplicate_of"]["id"] in kept_ids for r in removed)
    attacked = rows(run_dir, "attack")
    assert {r["parent_id"] for r in attacked} == kept_ids


def test_baseline_counts_a_refusing_generator_as_failures_not_prompts(tmp_path: Path, write_config):
    """The naive baseline filters refusals like raw_text does: "I'm sorry" is no prompt."""
    config = write_config(
        {"name": "r", "models": mock_generator("mock_responders:refusing_baseline"), **SMALL}
    )
    proc = run_sagert("baseline", str(config), "--calls", "6", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    base = rows(tmp_path / "runs" / "r-baseline", "baseline")
    assert len(base) == 6
    refused = [r for r in base if r["status"] == "failed"]
    kept = [r for r in base if r["status"] == "ok"]
    assert refused and kept  # the responder refuses on odd seeds only
    assert all("refused" in r["failure"]["reason"] for r in refused)
    assert all("I'm sorry" in r["failure"]["raw"][0] for r in refused)  # the text is kept
    assert all("harmful act" in r["prompt"] for r in kept)
