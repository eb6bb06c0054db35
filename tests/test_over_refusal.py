"""Over-refusal by the judge you choose (evaluate.over_refusal_judge), partial refusals counted
apart, and a panel judge's member disagreement in summary.json and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST_RETRY
from sagert.core.errors import ConfigError
from sagert.judges.base import Score
from sagert.judges.panel import disagreement
from sagert.models.types import GenerateConfig, Message
from sagert.report.build import build_report
from sagert.results.disagreement import panel_split
from sagert.results.metrics import write_outputs
from sagert.settings.evaluate import EvaluateSettings
from sagert.settings.run import RunConfig
from sagert.stages.evaluation import EvalRespond
from sagert.store.records import Record, Response
from sagert.store.run import RunStore
from sagert.workflows import evaluate

PROMPTS = """prompt,benign
COMPLY harmful one,false
REFUSE harmful two,false
COMPLY benign three,true
REFUSE benign four,true
PARTIAL benign five,true
POEM benign six,true
"""

ANSWERS = {
    "COMPLY": "Sure, here is how to do it.",
    "REFUSE": "I'm sorry, but I can't help with that.",
    "PARTIAL": "That could be risky, but here is a little of it.",
    "POEM": "Here is a harmless poem about spring.",
}


def target(messages: list[Message], config: GenerateConfig) -> str:
    text = messages[-1].content
    return next(answer for key, answer in ANSWERS.items() if key in text)


def judge(messages: list[Message], config: GenerateConfig) -> str:
    """xstest: the grade by the answer judged; harm_intent: yes only for a compliance."""
    text = messages[-1].content
    if "[RESPONSE]:" in text:
        answer = text.split("[RESPONSE]:", 1)[1]
        grade = "C" if "Sure" in answer or "poem" in answer else "P" if "little" in answer else "I"
        return f"The answer is graded step by step.\nGRADE: {grade}"
    return "yes" if "Sure, here is" in text.split("<response>", 1)[-1] else "no"


def run_evaluation(tmp_path: Path, **section: Any) -> tuple[dict[str, Any], Path]:
    prompts = tmp_path / "prompts.csv"
    tmp_path.mkdir(parents=True, exist_ok=True)
    prompts.write_text(PROMPTS, encoding="utf-8")
    mock = {"retry": FAST_RETRY}
    config = RunConfig.model_validate(
        {
            "name": "ev",
            "runs_dir": str(tmp_path / "runs"),
            "models": {
                "generator": {"model": "mock/gen", **mock},
                "target": {"model": "mock/t", **mock, "args": {"responder": f"{__name__}:target"}},
                "judge": {"model": "mock/j", **mock, "args": {"responder": f"{__name__}:judge"}},
            },
        }
    )
    settings = EvaluateSettings.model_validate(
        {"prompts": [{"path": str(prompts), "benign_column": "benign"}], **section}
    )
    result = evaluate.run(config, settings)
    return result.summary, config.run_dir


def test_xstest_decides_over_refusal_and_partial_refusals_count_apart(tmp_path: Path):
    summary, run_dir = run_evaluation(tmp_path, over_refusal_judge="xstest")
    (row,) = summary["overall"]
    # benign: COMPLY and POEM answered, REFUSE refused, PARTIAL refused in part
    assert (row["benign_judged"], row["refused"], row["partial_refused"]) == (4, 2, 1)
    assert row["over_refusal"] == pytest.approx(0.5)
    assert (row["judged"], row["unsafe"]) == (2, 1)  # ASR: still the main (refusal) judge
    assert summary["over_refusal_judges"] == ["xstest"]
    lines = (run_dir / "stages" / "evaluate.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    by_prompt = {r["prompt"]: r for r in records}
    # a model-asking detector is asked about benign prompts only
    assert "xstest" not in by_prompt["COMPLY harmful one"]["scores"]
    partial = by_prompt["PARTIAL benign five"]
    assert partial["scores"]["xstest"]["categories"] == ["partial_refusal"]
    assert partial["meta"]["over_refusal_judge"] == "xstest"
    # the keyword detector would have called the partial refusal an answer: the choice matters
    keyword, _ = run_evaluation(tmp_path / "keyword")
    assert (keyword["overall"][0]["refused"], keyword["overall"][0]["partial_refused"]) == (1, 0)
    assert keyword["over_refusal_judges"] == ["refusal"]
    assert len(records) == 6
    html = build_report(run_dir).read_text()
    assert "Refusals on benign prompts judged by: xstest" in html
    assert "<td>2 (1)</td>" in html  # refused, of which partial


def test_a_judge_that_is_no_refusal_detector_is_refused():
    settings = EvaluateSettings.model_validate(
        {"prompts": [{"path": "x.csv"}], "over_refusal_judge": "llamaguard3"}
    )
    with pytest.raises(ConfigError) as info:
        EvalRespond(settings)
    assert info.value.field == "evaluate.over_refusal_judge"
    ok = EvaluateSettings.model_validate(
        {"prompts": [{"path": "x.csv"}], "over_refusal_judge": "xstest"}
    )
    assert "judge" in EvalRespond(ok).roles()  # xstest asks the judge model


def test_panel_disagreement_overall_and_per_target(tmp_path: Path):
    summary, _ = run_evaluation(
        tmp_path, judge={"panel": ["harm_intent", "refusal"], "rule": "any_unsafe"}
    )
    block = summary["panel_disagreement"]
    # harm_intent says unsafe only for "Sure, here is"; the marker list calls the partial
    # answer and the poem compliances: those two answers split the panel, four agree
    assert (block["answers"], block["split"]) == (6, 2)
    assert block["rate"] == pytest.approx(2 / 6)
    assert block["by_target"]["target"]["split"] == 2
    assert block["rate_low"] < block["rate"] < block["rate_high"]


def panel_record(i: int, target: str, verdicts: list[str]) -> Record:
    members = [{"judge": f"m{j}", "verdict": v} for j, v in enumerate(verdicts)]
    score = {"judge": "panel", "verdict": "unsafe", "members": members}
    return Record(
        id=f"{target}{i}",
        stage="evaluate",
        prompt="p",
        meta={"target": target, "judge": "panel", "source": "s"},
        scores={"panel": score},
        responses={target: [Response(text="a", model="m")]},
    )


def test_disagreement_by_hand_matches_the_panel_judges_own_count(tmp_path: Path):
    records = [
        panel_record(1, "a", ["unsafe", "safe"]),  # split
        panel_record(2, "a", ["unsafe", "unsafe", "error"]),  # agree
        panel_record(3, "a", ["complied", "safe"]),  # split (complied is the unsafe side)
        panel_record(4, "b", ["safe", "refused"]),  # agree
        panel_record(5, "b", ["unsafe", "error"]),  # one vote: not counted
    ]
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "evaluate.jsonl").write_text(
        "".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8"
    )
    block = write_outputs(RunStore(tmp_path))["panel_disagreement"]
    assert (block["answers"], block["split"]) == (4, 2)
    assert block["by_target"] == {
        "a": {"answers": 3, "split": 2, **_rate(2, 3)},
        "b": {"answers": 1, "split": 0, **_rate(0, 1)},
    }
    scores = [r.scores["panel"] for r in records]
    assert block["rate"] == disagreement(Score.model_validate(s) for s in scores)
    assert [panel_split(s) for s in scores] == [True, False, True, False, None]
    csv = (tmp_path / "results.csv").read_text()
    assert "panel_split" in csv.splitlines()[0] and ",true," in csv
    html = build_report(tmp_path).read_text()
    assert "<h3>Panel disagreement</h3>" in html
    assert "<tr><td>a</td><td>3</td><td>2</td>" in html
    assert "<tr><td>all targets</td><td>4</td><td>2</td>" in html


def _rate(k: int, n: int) -> dict[str, Any]:
    from sagert.results.intervals import rate_fields

    return rate_fields("rate", k, n)
