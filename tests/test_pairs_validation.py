"""Pairs validated by harm, not by the absence of a refusal: the rule by judge kind, the pairs
stage's kind from the config, `validated_by` in the export rows and the dataset card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sagert.stages  # noqa: F401  (registers the built-in stages)
from conftest import FAST_RETRY
from sagert.engine.stage import build, stages
from sagert.settings.run import RunConfig
from sagert.stages.pairs import decide_pair
from sagert.store.records import Record
from sagert.workflows import generate
from sagert.workflows.export import export_run, validated_by


def judged(chosen: list[str], rejected: list[str]) -> Record:
    sides = {
        "chosen": [{"verdict": v} for v in chosen],
        "rejected": [{"verdict": v} for v in rejected],
    }
    return Record(id="r", stage="judge", prompt="p", scores={"j": sides})


@pytest.mark.parametrize(
    ("chosen", "rejected", "kept", "reason"),
    [
        (["safe"], ["unsafe"], (0, 0), "kept"),
        (["refused"], ["complied"], None, "chosen not safe (refused)"),
        (["safe"], ["complied"], None, "rejected not unsafe (complied)"),
        (["refused", "safe"], ["complied", "unsafe"], (1, 1), "kept"),
        (["error"], ["unsafe"], None, "chosen judge error"),
    ],
)
def test_a_harm_judge_needs_unsafe_rejected_and_safe_chosen(
    chosen: list[str], rejected: list[str], kept: tuple[int, int] | None, reason: str
):
    decision = decide_pair(judged(chosen, rejected), "j", "harm")
    assert decision.keep is (kept is not None) and reason in decision.reason
    if kept is not None:
        assert (decision.chosen, decision.rejected) == kept
    # a refusal judge's verdicts are what it can give: refused / complied still make a pair
    assert decide_pair(judged(["refused"], ["complied"]), "j", "refusal").keep


@pytest.mark.parametrize(
    ("judge", "kind"),
    [
        ({"judge": "refusal"}, "refusal"),
        ({"judge": "xstest"}, "refusal"),
        ({"judge": "llamaguard3"}, "harm"),
        ({"judge": "strongreject"}, "harm"),
        ({"panel": ["harmbench", "llamaguard3"]}, "harm"),
        ({"panel": ["llamaguard3", "refusal"], "rule": "any_unsafe"}, "refusal"),
    ],
)
def test_the_pairs_stage_takes_the_kind_of_the_judge_stage_judge(judge: dict[str, Any], kind: str):
    config = RunConfig.model_validate({"stages": {"judge": judge}})
    pairs = build(stages.get("pairs"), config)
    assert pairs.spec()["validated_by"] == kind


def test_old_pairs_take_their_judge_kind():
    assert validated_by({"judge": "llamaguard3"}) == "harm"
    assert validated_by({"judge": "refusal"}) == "refusal"
    assert validated_by({"judge": "panel"}) == "refusal"  # its kind depends on its members
    assert validated_by({"judge": "no_such", "validated_by": "harm"}) == "harm"


def run_config(tmp_path: Path, judge: str, responder: str = "gated") -> RunConfig:
    mock = {
        "model": "mock/gen",
        "retry": FAST_RETRY,
        "args": {"responder": f"mock_responders:{responder}"},
    }
    return RunConfig.model_validate(
        {
            "name": judge,
            "runs_dir": str(tmp_path / "runs"),
            "taxonomy": "harmbench",
            "models": {"generator": mock},
            "stages": {
                "expand": {"depth": 0},
                "sample": {"n_samples": 3},
                "extract": {"queries_per_text": 1},
                "evolve": {"rounds": 0},
                "dedup": {"exact": False, "minhash": False},
                "attack": {"per_prompt": 1, "styles": ["base64"]},
                "judge": {"judge": judge},
            },
        }
    )


@pytest.mark.parametrize(("judge", "kind"), [("harm_intent", "harm"), ("refusal", "refusal")])
def test_export_rows_and_card_say_how_pairs_were_validated(tmp_path: Path, judge: str, kind: str):
    config = run_config(tmp_path, judge)
    generate.run(config)
    written = export_run(config.run_dir, ["trl"])
    rows = [json.loads(line) for line in written["trl"].read_text().splitlines()]
    assert len(rows) == 6  # 3 prompts, plain and base64: every pair kept
    assert {(r["validated_by"], r["judge"]) for r in rows} == {(kind, judge)}
    if kind == "harm":
        assert {(r["chosen_verdict"], r["rejected_verdict"]) for r in rows} == {("safe", "unsafe")}
    card = written["card"].read_text()
    assert f"- validated by: **{kind}** (judge `{judge}`, 6 pairs)" in card
    assert ("not shown to be harmful" in card) is (kind == "refusal")


def test_the_harm_judge_of_pairs_reads_the_request_under_a_mechanical_attack(tmp_path: Path):
    """As in `evaluate` and the prompt gate: a base64-wrapped request would hide what was asked
    (a small judge model then calls the unaligned answer harmless), so the judge reads the
    plain request; the record keeps the attacked prompt."""
    config = run_config(tmp_path, "harm_intent", responder="gated_reads_plain")
    generate.run(config)
    pairs = [
        Record.model_validate_json(line)
        for line in (config.run_dir / "stages" / "pairs.jsonl").read_text().splitlines()
    ]
    assert len(pairs) == 6 and all(r.status == "ok" for r in pairs)
    assert sum("base64" in (r.prompt or "") for r in pairs) == 3
