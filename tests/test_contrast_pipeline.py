"""Contrast pairs through `sagert generate` on the mock provider: the generator leaks XSTest
prompts and the screen leaves every one out (counted), pairs are refusal-validated with the
best chosen answer kept, the export mixes them in at the share, and the summary, the card and
the manifest count them; a re-run makes no call."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import FAST_RETRY, SHARED_DATA, env_with_tests, sagert_cmd
from sagert.diversity.text import normalize
from test_generation import SMALL, rows, run_sagert

XSTEST = SHARED_DATA / "xstest" / "xstest_prompts.csv"
pytestmark = pytest.mark.skipif(not XSTEST.is_file(), reason="shared XSTest data not present")
SHARE, PER_CALL, OVERSAMPLE = 0.3, 8, 3.0


def words(text: str) -> set[str]:
    return set(normalize(text).split())


def test_contrast_pairs_end_to_end(tmp_path: Path, write_config):
    stages = {
        **SMALL["stages"],
        "responses": {"best_of": 2},
        "contrast": {
            "share": SHARE,
            "per_call": PER_CALL,
            "oversample": OVERSAMPLE,
            "exclude": [{"path": str(XSTEST), "loader": "xstest"}],
        },
    }
    generator = {
        "model": "mock/gen",
        "retry": FAST_RETRY,
        "args": {"responder": "mock_responders:leaky_contrast"},
    }
    config = write_config(
        {"name": "c", "models": {"generator": generator}, **SMALL, "stages": stages}
    )
    proc = run_sagert("generate", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "runs" / "c"
    manifest = json.loads((run_dir / "manifest.json").read_text())

    harmful = [r for r in rows(run_dir, "pairs") if r["status"] == "ok"]
    assert len(harmful) == 36
    assert all(len(r["responses"]["chosen"]) == 2 for r in rows(run_dir, "responses"))
    target = round(SHARE * 36 / (1 - SHARE))  # 15
    made = manifest["stages"]["contrast_prompts"]["contrast"]
    assert (made["harmful_pairs"], made["target"]) == (36, target)
    assert made["wanted"] == 45 and made["units"] == 6

    # Every unit's answer opened with three XSTest prompts: all left out, and counted.
    with XSTEST.open(encoding="utf-8") as fh:
        tests = [row["prompt"] for row in csv.DictReader(fh)]
    excluded = rows(run_dir, "contrast_prompts.excluded")
    assert len(excluded) == made["excluded_test_set"] == 3 * made["units"]
    assert all(r["meta"]["excluded"]["kind"] == "test_set" for r in excluded)
    assert {r["meta"]["excluded"]["match"] for r in excluded} == {tests[0]}
    assert made["exclusion_prompts"] == len(tests) == 450
    assert made["usable"] == made["candidates"] - len(excluded) == 5 * made["units"]

    pairs = rows(run_dir, "contrast")
    assert len(pairs) == made["usable"]
    test_norms = {normalize(t) for t in tests}
    test_words = [words(t) for t in tests]
    for r in pairs:  # checked here without the screen's code: exact Jaccard on word sets
        assert normalize(r["prompt"]) not in test_norms
        mine = words(r["prompt"])
        assert max(len(mine & t) / len(mine | t) for t in test_words) < 0.6, r["prompt"]
    kept = [r for r in pairs if r["status"] == "ok"]
    dropped = [r for r in pairs if r["status"] == "failed"]
    assert len(kept) > target and len(kept) == manifest["stages"]["contrast"]["contrast"]["kept"]
    for r in kept:
        pair, verdicts = r["meta"]["pair"], r["scores"]["refusal"]
        assert verdicts["chosen"][pair["chosen"]]["verdict"] == "complied"
        assert verdicts["rejected"][pair["rejected"]]["verdict"] == "refused"
        helpful = [
            len(a["text"].split())
            for a, s in zip(r["responses"]["chosen"], verdicts["chosen"], strict=True)
            if s["verdict"] == "complied"
        ]
        assert len(r["responses"]["chosen"][pair["chosen"]]["text"].split()) == max(helpful)
    assert all(
        r["failure"]["reason"] == "dropped: chosen refused (refused, refused)" for r in dropped
    )

    exported = [
        json.loads(x) for x in (run_dir / "export" / "train.jsonl").read_text().splitlines()
    ]
    kinds = [row["kind"] for row in exported]
    assert Counter(kinds) == {"harmful": 36, "contrast": target}
    half = len(kinds) // 2
    assert abs(kinds[:half].count("contrast") - target * half / len(kinds)) <= 1  # spread
    kept_ids = {r["id"] for r in kept}
    contrast_rows = [row for row in exported if row["kind"] == "contrast"]
    assert {row["id"] for row in contrast_rows} <= kept_ids
    assert all(row["rejected"].startswith(("I", "As an AI")) for row in contrast_rows)
    assert all(row["contrast_style"] and row["validated_by"] == "refusal" for row in contrast_rows)

    card = (run_dir / "export" / "README.md").read_text()
    assert f"pairs: **{36 + target}**" in card
    assert (
        f"{target} of {36 + target} = {100 * target / (36 + target):.1f}% of the training set"
        in card
    )
    assert f"validated by: **contrast** (judge `refusal`, {target} pairs)" in card
    assert "| contrast style | pairs |" in card

    out = proc.stdout
    assert "contrast pairs" in out and "excluded: match a test-set prompt (of 450)" in out
    assert "in the training set" in out and f"{target} of {36 + target}" in out
    assert manifest["yields"]["contrast_pairs"] == len(kept)
    assert manifest["yields"]["pairs"] == 36

    again = run_sagert("generate", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    after = json.loads((run_dir / "manifest.json").read_text())
    assert all(
        s["calls"].get("mock/gen", {}).get("calls", 0) == 0 for s in after["stages"].values()
    )
    assert len(rows(run_dir, "contrast")) == len(pairs)
    assert after["stages"]["contrast_prompts"]["contrast"]["excluded_test_set"] == len(excluded)

    # A test set added later applies to the pairs already made: the screen is a view.
    leaked = contrast_rows[0]
    extra = tmp_path / "later_test.csv"
    extra.write_text(f"prompt\n{leaked['prompt']}\n", encoding="utf-8")
    stages["contrast"]["exclude"].append({"path": str(extra)})
    config = write_config(
        {"name": "c", "models": {"generator": generator}, **SMALL, "stages": stages}
    )
    third = run_sagert("generate", str(config), cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    later = json.loads((run_dir / "manifest.json").read_text())["stages"]["contrast_prompts"]
    assert later["contrast"]["excluded_test_set"] == len(excluded) + 1
    assert later["contrast"]["exclusion_prompts"] == 451
    final = [json.loads(x) for x in (run_dir / "export" / "train.jsonl").read_text().splitlines()]
    assert leaked["id"] not in {row["id"] for row in final}
    assert Counter(row["kind"] for row in final) == {"harmful": 36, "contrast": target}


def stingy_config(write_config, name: str, top_up: int, **contrast) -> Path:
    """A run whose chosen answers refuse three times in four (too few pairs pass)."""
    stages = {
        **SMALL["stages"],
        "contrast": {
            "share": SHARE,
            "per_call": 4,
            "oversample": 1.0,
            "top_up": top_up,
            **contrast,
        },
    }
    generator = {
        "model": "mock/gen",
        "retry": FAST_RETRY,
        "args": {"responder": "mock_responders:stingy_contrast", "delay": 0.02},
    }
    return write_config(
        {"name": name, "models": {"generator": generator}, **SMALL, "stages": stages}
    )


def test_too_few_pairs_are_topped_up_and_a_rerun_repeats_none(tmp_path: Path, write_config):
    """Three chosen answers in four refuse: the first candidates give too few pairs, top-up
    rounds add candidates sized by the pass rate until the share's target is met; without
    top-ups the target is missed; a re-run makes no call and adds no record."""

    def run(name: str, top_up: int) -> tuple[dict, Path, str]:
        config = stingy_config(write_config, name, top_up)
        proc = run_sagert("generate", str(config), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        run_dir = tmp_path / "runs" / name
        return json.loads((run_dir / "manifest.json").read_text()), run_dir, str(config)

    target = round(SHARE * 36 / (1 - SHARE))  # 15
    plain, plain_dir, _ = run("no-top-up", 0)
    made, pairs = (plain["stages"][s]["contrast"] for s in ("contrast_prompts", "contrast"))
    assert made["target"] == target and made["wanted"] == target and made["topped_up"] == 0
    assert pairs["top_up_rounds"] == 0 and pairs["kept"] < target

    manifest, run_dir, config = run("top-up", 3)
    made, pairs = (manifest["stages"][s]["contrast"] for s in ("contrast_prompts", "contrast"))
    assert 1 <= pairs["top_up_rounds"] <= 3
    assert made["topped_up"] > 0 and made["wanted"] == target + made["topped_up"]
    assert made["units"] == math.ceil(made["wanted"] / 4)
    assert pairs["kept"] >= target or pairs["top_up_rounds"] == 3
    assert pairs["kept"] > plain["stages"]["contrast"]["contrast"]["kept"]
    records = rows(run_dir, "contrast")
    assert len(records) == pairs["kept"] + pairs["dropped"]
    assert len({r["parent_id"] for r in records}) == len(records)  # no candidate paired twice
    # The first round's candidates are the no-top-up run's: a top-up adds, never replaces.
    first = {r["prompt"] for r in rows(plain_dir, "contrast")}
    assert first <= {r["prompt"] for r in records}
    exported = [
        json.loads(x) for x in (run_dir / "export" / "train.jsonl").read_text().splitlines()
    ]
    assert Counter(row["kind"] for row in exported)["contrast"] == min(target, pairs["kept"])

    again = run_sagert("generate", config, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    after = json.loads((run_dir / "manifest.json").read_text())
    assert all(
        s["calls"].get("mock/gen", {}).get("calls", 0) == 0 for s in after["stages"].values()
    )
    assert len(rows(run_dir, "contrast")) == len(records)
    assert after["stages"]["contrast"]["contrast"]["top_up_rounds"] == pairs["top_up_rounds"]
    assert after["stages"]["contrast_prompts"]["contrast"]["wanted"] == made["wanted"]


def test_a_run_killed_while_pairing_top_up_candidates_resumes_to_the_same_pairs(
    tmp_path: Path, write_config
):
    """kill -9 while the contrast stage pairs a top-up round's candidates; the resumed run
    ends with the uninterrupted run's pairs and rounds: none lost, none repeated."""
    whole = stingy_config(write_config, "whole", 3)
    assert run_sagert("generate", str(whole), cwd=tmp_path).returncode == 0
    expected = {r["id"]: r["status"] for r in rows(tmp_path / "runs" / "whole", "contrast")}
    first_round = 15  # the candidates wanted before any top-up (the target, oversample 1.0)
    assert len(expected) > first_round + 4

    config = stingy_config(write_config, "killed", 3, concurrency=1)
    out = tmp_path / "runs" / "killed" / "stages" / "contrast.jsonl"
    proc = subprocess.Popen(
        [*sagert_cmd(), "generate", str(config)],
        cwd=tmp_path,
        env=env_with_tests(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and len(out.read_bytes().splitlines()) >= first_round + 2:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(out.read_bytes().splitlines())
    assert first_round + 2 <= partial < len(expected), "the kill must land in a top-up round"

    again = run_sagert("generate", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    got = rows(tmp_path / "runs" / "killed", "contrast")
    assert Counter(r["id"] for r in got).most_common(1)[0][1] == 1  # none twice
    assert {r["id"]: r["status"] for r in got} == expected
    manifests = [
        json.loads((tmp_path / "runs" / n / "manifest.json").read_text())
        for n in ("whole", "killed")
    ]
    rounds = [m["stages"]["contrast"]["contrast"]["top_up_rounds"] for m in manifests]
    assert rounds[0] == rounds[1]
