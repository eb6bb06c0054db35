"""The yield: pairs and prompts per 1,000 generated tokens from a hand-checkable manifest, the
counters summed over runs, and where it shows (CLI closing summary, report, card, baseline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST_RETRY
from sagert.cli.gates import print_yield
from sagert.report.build import build_report
from sagert.results.yields import run_yield, yield_lines
from sagert.settings.run import RunConfig
from sagert.store.manifest import Manifest
from sagert.store.records import Record
from sagert.store.run import RunStore
from sagert.workflows import baseline, generate
from sagert.workflows.export import export_run


def calls(role: str, completion: int) -> dict[str, Any]:
    return {"mock/m": {"roles": [role], "calls": 1, "completion_tokens": completion}}


def write_stage(root: Path, name: str, statuses: list[str]) -> None:
    (root / "stages").mkdir(parents=True, exist_ok=True)
    records = [
        Record(id=f"{name}{i}", stage=name, status=s, prompt="p")  # type: ignore[arg-type]
        for i, s in enumerate(statuses)
    ]
    text = "".join(r.model_dump_json() + "\n" for r in records)
    (root / "stages" / f"{name}.jsonl").write_text(text, encoding="utf-8")


GATE = {"judged": 5, "harmful": 4, "benign": 1, "errors": 1, "harmful_rate": 0.8}


def hand_run(root: Path) -> RunStore:
    """Tokens: extract 1,000 + gate_attack 200 + attack 800 (all runs) = 2,000 making prompts,
    responses 1,500 + judge 500 answering: 4,000 in all. 4 prompts passed the gate, 3 pairs."""
    stages = {
        "extract": {"calls": calls("generator", 0), "calls_total": calls("generator", 1000)},
        "attack": {"calls": calls("generator", 800)},  # a manifest from before calls_total
        "gate_attack": {"calls_total": calls("judge", 200), "gate": GATE},
        "responses": {"calls_total": calls("aligned", 1500)},
        "judge": {"calls_total": calls("judge", 500)},
        "pairs": {},
    }
    manifest = Manifest.model_validate({"name": "hand", "stages": stages})
    (root / "manifest.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(manifest.model_dump_json(), encoding="utf-8")
    write_stage(root, "attack", ["ok"] * 6)
    write_stage(root, "gate_attack", ["ok"] * 4 + ["filtered", "failed"])
    write_stage(root, "pairs", ["ok"] * 3 + ["failed"])
    return RunStore(root)


def test_yield_from_a_hand_checkable_manifest(tmp_path: Path):
    y = run_yield(hand_run(tmp_path))
    assert y["completion_tokens"] == 4000
    assert y["prompt_completion_tokens"] == 2000
    assert (y["prompt_stage"], y["prompts"], y["prompts_gated"]) == ("gate_attack", 4, True)
    assert y["prompts_per_1k_tokens"] == y["harmful_prompts_per_1k_tokens"] == 2.0  # 4 / 2,000
    assert (y["pairs"], y["pairs_per_1k_tokens"]) == (3, 0.75)  # 3 / 4,000
    assert y["gates"] == {"gate_attack": GATE}
    lines = yield_lines(y)
    assert lines[0] == "generated tokens: 4,000 (completion, every role and stage)"
    assert lines[1] == "validated pairs: 3 = 0.750 per 1,000 generated tokens"
    assert lines[2].startswith("harmful prompts (passed the gate): 4 in stages/gate_attack.jsonl")
    assert lines[3] == (
        "gate_attack: harmful-prompt rate 80.0% (4/5 judged, 1 benign, 1 judge errors)"
    )


def test_the_yield_shows_in_the_closing_summary_and_the_report(tmp_path: Path, capsys):
    store = hand_run(tmp_path)
    manifest = store.manifest()
    store.write_manifest(manifest.model_copy(update={"yields": run_yield(store)}))
    print_yield(tmp_path)
    out = capsys.readouterr().out
    assert "validated pairs: 3 = 0.750 per 1,000 generated tokens" in out
    html = build_report(tmp_path).read_text()
    assert 'validated pairs per 1,000 generated tokens</th><td class="num">0.75<' in html
    assert "<td>gate_attack</td><td>5</td><td>4</td>" in html


def test_stage_counters_add_up_over_runs(tmp_path: Path):
    store = RunStore(tmp_path)
    store.record_stage("raw_text", {}, {"calls": calls("generator", 100)})
    store.record_stage("raw_text", {}, {"calls": {}})  # a resume that made no call
    store.record_stage("raw_text", {}, {"calls": calls("generator", 50)})
    entry = store.manifest().stages["raw_text"]
    assert entry.calls["mock/m"]["completion_tokens"] == 50  # the last run's, as before
    assert entry.calls_total["mock/m"]["completion_tokens"] == 150
    assert entry.calls_total["mock/m"]["calls"] == 2
    store.annotate_stage("raw_text", {"gate": {"judged": 1}})
    again = store.manifest().stages["raw_text"]
    assert again.calls_total == entry.calls_total and again.model_extra == {"gate": {"judged": 1}}


def mock_config(tmp_path: Path, gate: bool) -> RunConfig:
    mock = {
        "model": "mock/gen",
        "retry": FAST_RETRY,
        "args": {"responder": "mock_responders:gated"},
    }
    stages: dict[str, Any] = {
        "expand": {"depth": 0},
        "sample": {"n_samples": 3},
        "extract": {"queries_per_text": 2},
        "evolve": {"rounds": 0},
        "dedup": {"exact": False, "minhash": False},
        "attack": {"per_prompt": 1, "styles": ["base64"]},
    }
    if gate:
        stages["gate"] = {"judge": "harm_intent"}
    return RunConfig.model_validate(
        {
            "name": "y",
            "runs_dir": str(tmp_path / "runs"),
            "taxonomy": "harmbench",
            "models": {"generator": mock},
            "stages": stages,
        }
    )


def test_a_run_records_its_yield_and_the_card_shows_it(tmp_path: Path):
    config = mock_config(tmp_path, gate=True)
    generate.run(config)
    store = RunStore.reader(config.run_dir)
    recorded = store.manifest().yields
    assert recorded == run_yield(store)
    assert recorded is not None and recorded["prompt_stage"] == "gate_attack"
    assert set(recorded["gates"]) == {"gate_extract", "gate_attack"}
    # query -0 of each text is harmful, -1 is not: half of the extracted prompts pass
    assert recorded["gates"]["gate_extract"]["harmful_rate"] == 0.5
    assert recorded["pairs"] == recorded["prompts"] == 6  # 3 harmful x (plain + base64)
    tokens = store.manifest().completion_tokens()
    assert recorded["pairs_per_1k_tokens"] == pytest.approx(round(6000 / tokens, 3))
    card = export_run(config.run_dir, ["trl"])["card"].read_text()
    assert "## Yield" in card and "- validated pairs: 6 = " in card
    assert "- gate_extract: harmful-prompt rate 50.0% (3/6 judged" in card
    # a resumed run costs nothing more and reports the same yield
    generate.run(config)
    assert RunStore.reader(config.run_dir).manifest().yields == recorded


@pytest.mark.parametrize("gate", [True, False])
def test_the_baseline_reports_its_yield_gated_or_not(tmp_path: Path, gate: bool):
    config = mock_config(tmp_path, gate)
    result = baseline.run(config, calls=6)
    y = result.yields
    assert y is not None
    manifest = RunStore.reader(result.run_dir).manifest()
    assert manifest.yields == y and y["pairs"] is None
    if gate:
        assert result.gate is not None and y["prompt_stage"] == "gate_extract"
        assert y["prompts_gated"] and y["harmful_prompts_per_1k_tokens"] is not None
        assert y["gates"]["gate_extract"]["judged"] == 6
        assert [s.name for s in result.summaries] == ["baseline", "gate_extract"]
    else:
        assert result.gate is None and y["prompt_stage"] == "baseline"
        assert y["harmful_prompts_per_1k_tokens"] is None
        assert y["prompts"] == 6
    assert y["prompts_per_1k_tokens"] == round(
        y["prompts"] * 1000 / y["prompt_completion_tokens"], 3
    )
    assert json.loads((result.run_dir / "manifest.json").read_text())["yields"] == y


def test_a_pairs_stage_that_kept_nothing_is_zero_pairs_not_none(tmp_path: Path):
    store = RunStore(tmp_path)
    store.record_stage("pairs", {}, {"calls": {}})
    assert run_yield(store)["pairs"] == 0
    assert run_yield(RunStore(tmp_path / "none"))["pairs"] is None
