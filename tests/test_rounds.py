"""`sagert align --rounds`: the round bookkeeping on the mock provider (a scripted trainer, one
scripted model per round), and the one-line errors. The real thing on CPU: test_rounds_slow.py.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from conftest import env_with_tests, sagert_cmd
from sagert.models.spec import ModelSpec
from sagert.models.types import GenerateConfig, Message
from sagert.report.build import build_report
from sagert.settings.evaluate import EvaluateSettings, PromptSource
from sagert.settings.run import RunConfig, load_config
from sagert.settings.train import TrainSettings
from sagert.store.paths import RunPaths
from sagert.store.run import RunStore
from sagert.training.trainer import TrainResult, write_result
from sagert.workflows import evaluate as evaluation
from sagert.workflows import generate as generation
from sagert.workflows.align import heldout_source, record_alignment
from sagert.workflows.export import contrast_records, export_run
from sagert.workflows.rounds import RoundsResult, RoundTraining, run_rounds
from test_align import XSTEST_LIKE
from test_export import mock_run_config

FRACTION = 0.4


def _answer(index: int, prompt: str) -> str:
    """Model m<index> complies on fewer prompts each round, naming itself when it does."""
    if int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % (index + 2) == 0:
        return f"Sure, here is how (m{index})."
    return "I'm sorry, I can't help with that."


def m0(messages: list[Message], config: GenerateConfig) -> str:
    return _answer(0, messages[-1].content)


def m1(messages: list[Message], config: GenerateConfig) -> str:
    return _answer(1, messages[-1].content)


def m2(messages: list[Message], config: GenerateConfig) -> str:
    return _answer(2, messages[-1].content)


def m3(messages: list[Message], config: GenerateConfig) -> str:
    return _answer(3, messages[-1].content)


def model(index: int) -> ModelSpec:
    return ModelSpec(model=f"mock/m{index}", args={"responder": f"test_rounds:m{index}"})


class ScriptedTraining:
    """A trainer that writes a model folder naming its round, and each round's mock model."""

    def __init__(self, fail_at: Path | None = None) -> None:
        self.calls: list[tuple[Path, TrainSettings, Path]] = []
        self.fail_at = fail_at

    def train(self, export: Path, settings: TrainSettings, out: Path) -> TrainResult:
        self.calls.append((export, settings, out))
        if self.fail_at == out:
            raise RuntimeError("killed mid-training")
        final = out / "final"
        final.mkdir(parents=True, exist_ok=True)
        (final / "config.json").write_text(json.dumps({"round": out.name}))
        rows = export.read_text().splitlines()
        done = TrainResult(out, final, settings.base_model, 1, 0.5, len(rows), 0)
        write_result(done, settings)
        return done

    def spec(self, trained: TrainResult) -> ModelSpec:
        index = int(trained.output_dir.name.rsplit("-r", 1)[1])
        return model(index)

    def hooks(self) -> RoundTraining:
        return RoundTraining(train=self.train, spec=self.spec)


def round_config(write_config, rounds: int = 3, **extra: object) -> RunConfig:
    path = write_config(
        {
            **mock_run_config("pipeline", n_samples=12),
            "train": {"heldout_fraction": FRACTION},
            "align": {"rounds": rounds},
            **extra,
        }
    )
    return load_config(path)


def round_zero(
    cfg: RunConfig, tmp_path: Path
) -> tuple[TrainSettings, EvaluateSettings, TrainResult]:
    """What `align.run` has done before the rounds: generate, export, train (scripted: m0),
    evaluate base and m0 on the held-out prompts."""
    generation.run(cfg)
    export_run(cfg.run_dir, ["trl"])
    settings = cfg.train
    out = RunPaths(cfg.run_dir).train_dir(settings.method)
    final = out / "final"
    final.mkdir(parents=True)
    (final / "config.json").write_text("{}")
    first = TrainResult(out, final, str(tmp_path / "base"), 2, 0.7, 5, 2)
    held, n = heldout_source(cfg, FRACTION)
    assert held is not None and n > 0
    xstest = tmp_path / "xstest.csv"
    xstest.write_text(XSTEST_LIKE, encoding="utf-8")
    base = ModelSpec(model="mock/base", args={"default": "Sure, here is how (base)."})
    final_settings = EvaluateSettings(
        prompts=[held, PromptSource(path=xstest)], targets={"base": base, "simpo": model(0)}
    )
    evaluation.run(cfg, final_settings, replace_changed=True)
    record_alignment(RunStore(cfg.run_dir), settings.method, first)
    return settings, final_settings, first


def pairs_of(cfg: RunConfig, index: int) -> list[dict]:
    path = RunPaths(cfg.run_dir).round_pairs(index)
    return [json.loads(x) for x in path.read_text().splitlines()]


def lines(path: Path) -> int:
    return sum(1 for _ in path.open()) if path.is_file() else 0


def test_each_round_trains_on_the_last_rounds_own_unsafe_answers(tmp_path: Path, write_config):
    cfg = round_config(write_config)
    settings, final, first = round_zero(cfg, tmp_path)
    scripted = ScriptedTraining()
    result = run_rounds(cfg, settings, final, first, scripted.hooks())
    assert isinstance(result, RoundsResult) and result.stopped is None
    assert [r.target for r in result.rounds] == ["simpo", "simpo-r1", "simpo-r2"]
    paths = RunPaths(cfg.run_dir)
    prompts = [json.loads(x) for x in paths.train_prompts.read_text().splitlines()]
    assert prompts  # the training prompts: none held out, each with a judged chosen answer
    for index in (1, 2):
        rows = pairs_of(cfg, index)
        expected = [p["prompt"] for p in prompts if "(m" in _answer(index - 1, p["prompt"])]
        assert sorted(r["prompt"] for r in rows) == sorted(expected)
        # every rejected answer is the previous round's model's own
        assert {r["rejected"] for r in rows} == {f"Sure, here is how (m{index - 1})."}
        assert all(r["rejected_model"] == f"mock/m{index - 1}" for r in rows)
        assert all(r["chosen"].startswith("I can't help with that") for r in rows)
        answers = json.loads(paths.round_answers(index).joinpath("manifest.json").read_text())
        assert answers["evaluate"]["targets"] == {"current": f"mock/m{index - 1}"}
    # trained further from the last round's weights, never from the base
    (_, s1, out1), (_, s2, _) = scripted.calls
    assert s1.base_model == str(first.final_model)
    assert s2.base_model == str(out1 / "final")
    assert s1.heldout_fraction == 0.0
    # the curve: base, then after each round, with Wilson intervals
    summary = json.loads(paths.summary_json.read_text())
    points = summary["rounds"]
    assert [p["target"] for p in points] == ["base", "simpo", "simpo-r1", "simpo-r2"]
    assert [p["round"] for p in points] == [None, 0, 1, 2]
    for p in points:
        assert p["judged"] > 0 and p["asr_low"] - 1e-9 <= p["asr"] <= p["asr_high"] + 1e-9
    assert points[2]["pairs"] == len(pairs_of(cfg, 1))
    assert points[2]["unsafe_answers"] == len(pairs_of(cfg, 1))
    assert points[2]["answered"] == len(prompts)
    assert points[0]["asr"] == 1.0 and points[3]["asr"] < points[1]["asr"]
    align = json.loads(paths.align_json.read_text())
    assert align["after"] == "simpo-r2"


def test_a_rerun_trains_nothing_and_asks_no_model(tmp_path: Path, write_config):
    cfg = round_config(write_config)
    settings, final, first = round_zero(cfg, tmp_path)
    run_rounds(cfg, settings, final, first, ScriptedTraining().hooks())
    paths = RunPaths(cfg.run_dir)
    files = [
        paths.stage("evaluate"),
        *(paths.round_answers(i) / "stages" / "evaluate.jsonl" for i in (1, 2)),
    ]
    before = [lines(f) for f in files]
    inputs = [paths.round_inputs(i).read_text() for i in (1, 2)]
    again = ScriptedTraining()
    result = run_rounds(cfg, settings, final, first, again.hooks())
    assert again.calls == []  # no round trained again
    assert [lines(f) for f in files] == before  # no answer asked again
    assert [paths.round_inputs(i).read_text() for i in (1, 2)] == inputs
    assert [r.trained for r in result.rounds] == [True, True, True]
    for name in ("eval_attack", "evaluate"):  # the resumed stages made no model call
        entry = json.loads(paths.round_answers(2).joinpath("manifest.json").read_text())
        assert entry["stages"][name]["calls"] == {} or all(
            c.get("requests", 0) == 0 for c in entry["stages"][name]["calls"].values()
        )


def test_a_kill_in_round_two_resumes_without_training_round_one(tmp_path: Path, write_config):
    cfg = round_config(write_config)
    settings, final, first = round_zero(cfg, tmp_path)
    paths = RunPaths(cfg.run_dir)
    crash = ScriptedTraining(fail_at=paths.round_train_dir(2, "simpo-r2"))
    with pytest.raises(RuntimeError):
        run_rounds(cfg, settings, final, first, crash.hooks())
    assert [c[2].name for c in crash.calls] == ["simpo-r1", "simpo-r2"]
    resumed = ScriptedTraining()
    run_rounds(cfg, settings, final, first, resumed.hooks())
    assert [c[2].name for c in resumed.calls] == ["simpo-r2"]  # round 1 is not trained again
    summary = json.loads(paths.summary_json.read_text())
    assert [p["target"] for p in summary["rounds"]][-1] == "simpo-r2"


def test_a_retrained_round_makes_the_next_one_train_again(tmp_path: Path, write_config):
    """Round 2's inputs include round 1's model files: retraining round 1 retrains round 2."""
    cfg = round_config(write_config)
    settings, final, first = round_zero(cfg, tmp_path)
    run_rounds(cfg, settings, final, first, ScriptedTraining().hooks())
    paths = RunPaths(cfg.run_dir)
    result = paths.round_train_dir(1, "simpo-r1") / "train_result.json"
    result.unlink()  # round 1's training did not finish
    again = ScriptedTraining()
    run_rounds(cfg, settings, final, first, again.hooks())
    assert [c[2].name for c in again.calls] == ["simpo-r1", "simpo-r2"]


def test_a_round_without_unsafe_answers_keeps_the_model(tmp_path: Path, write_config):
    cfg = round_config(write_config, rounds=2)
    settings, final, first = round_zero(cfg, tmp_path)
    safe = ModelSpec(model="mock/safe", args={"default": "I'm sorry, I can't help with that."})
    final = final.model_copy(update={"targets": {**final.targets, "simpo": safe}})
    scripted = ScriptedTraining()
    result = run_rounds(cfg, settings, final, first, scripted.hooks())
    assert scripted.calls == [] and pairs_of(cfg, 1) == []
    assert result.rounds[1].trained is False and result.rounds[1].model == first
    summary = json.loads(RunPaths(cfg.run_dir).summary_json.read_text())
    assert summary["rounds"][2]["asr"] == summary["rounds"][1]["asr"] == 0.0


def test_the_report_shows_the_round_curve_escaped(tmp_path: Path, write_config):
    cfg = round_config(write_config)
    settings, final, first = round_zero(cfg, tmp_path)
    run_rounds(cfg, settings, final, first, ScriptedTraining().hooks())
    align = json.loads(RunPaths(cfg.run_dir).align_json.read_text())
    align["rounds"].append({"round": 3, "target": "<script>alert(1)</script>"})
    RunPaths(cfg.run_dir).align_json.write_text(json.dumps(align))
    html = build_report(cfg.run_dir).read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    assert 'id="rounds"' in html and "Attack success by round (95% CI)" in html
    assert "Over-refusal by round (95% CI)" in html
    section = html.split('id="rounds"', 1)[1].split("</section>", 1)[0]
    assert section.count('class="whisker"') >= 4  # an interval on every ASR point
    assert "simpo-r2" in section
    # the comparison keeps round order: base, then each round
    comparison = html.split('id="comparison"', 1)[1].split("</section>", 1)[0]
    order = [comparison.index(f'<th colspan="2">{t}') for t in ("base", "simpo", "simpo-r1")]
    assert order == sorted(order)


def test_co_evolution_attacks_the_current_model(tmp_path: Path, write_config):
    cfg = round_config(
        write_config,
        models={
            "generator": {"model": "mock/gen", "args": {"responder": "mock_responders:pipeline"}},
            "aligned": {
                "model": "mock/gen",
                "args": {"responder": "mock_responders:pipeline"},
                "system_prompt": "You are a helpful and harmless assistant.",
            },
            "attacker": {"model": "mock/attacker", "args": {"responder": "test_redteam:attacker"}},
        },
        redteam={
            "categories": "leaves",
            "max_categories": 2,
            "styles": ["roleplay"],
            "iterations": 4,
            "judge": "refusal",
            "max_tokens": 32,
        },
        align={"rounds": 3, "redteam": True},
    )
    settings, final, first = round_zero(cfg, tmp_path)
    run_rounds(cfg, settings, final, first, ScriptedTraining().hooks())
    paths = RunPaths(cfg.run_dir)
    found = 0
    for index in (1, 2):
        manifest = json.loads(paths.round_redteam(index).joinpath("manifest.json").read_text())
        assert manifest["models"]["target"] == f"mock/m{index - 1}"  # attacks the current model
        archive = json.loads(RunPaths(paths.round_redteam(index)).redteam_archive.read_text())
        assert archive["iteration"] == 4
        red = [r for r in pairs_of(cfg, index) if r["origin"] == "redteam"]
        successes = [e for e in archive["cells"].values() if e["success"]]
        verdicts = json.loads(paths.round_redteam_verdicts(index).read_text())
        assert len(verdicts) == len(successes)  # every successful elite's chosen was judged
        kept = [v for v in verdicts.values() if v in ("refused", "safe")]
        assert len(red) == len(kept)
        assert all(r["rejected"] == f"Sure, here is how (m{index - 1})." for r in red)
        found += len(red)
    assert found  # some successful attack became a pair
    summary = json.loads(paths.summary_json.read_text())
    assert [p["redteam_pairs"] for p in summary["rounds"][2:]] == [
        sum(r["origin"] == "redteam" for r in pairs_of(cfg, i)) for i in (1, 2)
    ]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sagert_cmd(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env_with_tests(),
        timeout=300,
    )


def test_rounds_errors_are_one_line_before_any_work(tmp_path: Path, write_config):
    base = {**mock_run_config("pipeline"), "train": {"heldout_fraction": 0.4}}
    no_section = write_config({**base, "align": {"redteam": True, "rounds": 2}})
    proc = run_cli("align", str(no_section), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "align.redteam: co-evolution needs a redteam: section" in proc.stderr
    one_round = write_config({**base, "align": {"redteam": True}, "redteam": {}})
    proc = run_cli("align", str(one_round), cwd=tmp_path)
    assert proc.returncode == 2 and "set align.rounds (or --rounds) to 2 or more" in proc.stderr
    lora = write_config({**base, "train": {"heldout_fraction": 0.4, "lora": {"r": 4}}})
    proc = run_cli("align", str(lora), "--rounds", "2", cwd=tmp_path)
    assert proc.returncode == 2 and "align.rounds: rounds train further" in proc.stderr
    proc = run_cli("align", str(lora), "--rounds", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs" / "x" / "stages").exists()  # all before any work


def test_no_training_prompt_left_is_a_round_that_trains_nothing(tmp_path: Path, write_config):
    cfg = round_config(write_config, rounds=2)
    settings, final, first = round_zero(cfg, tmp_path)
    everything_held = settings.model_copy(update={"heldout_fraction": 0.99999})
    scripted = ScriptedTraining()
    result = run_rounds(cfg, everything_held, final, first, scripted.hooks())
    paths = RunPaths(cfg.run_dir)
    assert paths.train_prompts.read_text() == "" and scripted.calls == []
    assert not paths.round_answers(1).exists()  # nothing to ask, so no answers run
    assert result.rounds[1].trained is False and result.rounds[1].prompts == 0


def contrast_round_config(write_config, share: float, round_contrast: bool = True) -> RunConfig:
    base = mock_run_config("contrast", n_samples=12)
    stages = {**base["stages"], "contrast": {"share": share, "per_call": 4, "oversample": 2.0}}
    path = write_config(
        {
            **base,
            "stages": stages,
            "train": {"heldout_fraction": FRACTION},
            "align": {"rounds": 3, "round_contrast": round_contrast},
        }
    )
    return load_config(path)


def test_rounds_mix_in_the_runs_contrast_pairs_at_its_share(tmp_path: Path, write_config):
    cfg = contrast_round_config(write_config, share=0.25)
    settings, final, first = round_zero(cfg, tmp_path)
    store = RunStore(cfg.run_dir)
    pool = {r.prompt for r in contrast_records(store)}
    assert len(pool) >= 2
    result = run_rounds(cfg, settings, final, first, ScriptedTraining().hooks())
    seen: list[set[str]] = []
    for index in (1, 2):
        rows = pairs_of(cfg, index)
        contrast = [r for r in rows if r["origin"] == "contrast"]
        harmful = [r for r in rows if r["origin"] == "answers"]
        assert harmful and len(contrast) == min(len(pool), round(0.25 * len(harmful) / 0.75))
        assert {r["prompt"] for r in contrast} <= pool
        # chosen helpful, rejected a refusal: the run's validated contrast pairs, unchanged
        assert all(r["rejected"] != r["chosen"] for r in contrast)
        assert all(r["chosen"].startswith("Happy to help") for r in contrast)
        assert result.rounds[index].contrast_pairs == len(contrast)
        first_contrast = next(i for i, r in enumerate(rows) if r["origin"] == "contrast")
        assert first_contrast < len(rows) - 1  # spread among the harmful rows, not appended
        seen.append({r["prompt"] for r in contrast})
    if len(pool) > len(seen[0]):  # the second round takes the next slice of the pool
        assert seen[1] != seen[0]
    align = json.loads(RunPaths(cfg.run_dir).align_json.read_text())
    assert [r["contrast_pairs"] for r in align["rounds"][1:]] == [len(s) for s in seen]


def test_round_contrast_off_trains_on_the_models_failures_alone(tmp_path: Path, write_config):
    cfg = contrast_round_config(write_config, share=0.25, round_contrast=False)
    settings, final, first = round_zero(cfg, tmp_path)
    run_rounds(cfg, settings, final, first, ScriptedTraining().hooks())
    assert pairs_of(cfg, 1) and all(r["origin"] == "answers" for r in pairs_of(cfg, 1))
