"""`sagert align --rounds 3` for real on CPU (slow): mock generation, the embedded SmolLM2
trained one SimPO step a round, every model answering through llama.cpp from its f16 GGUF.

One run (module fixture) serves three checks: the rounds finish with a per-round curve, each
round's rejected answers are what the previous round's model answers (asked again here,
directly, from its GGUF), and a second run trains nothing and asks no model. The learning
rate (5e-5, constant: about 28 times the SimPO recipe's) makes one step change most greedy
answers (10 of 14 training prompts in a probe) without making the model refuse everything:
then "the previous round's model" and "the base model" answer differently and the check can
tell them apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import env_with_tests, sagert_cmd
from test_align import XSTEST_LIKE
from test_export import mock_run_config
from test_to_gguf import _answers

pytestmark = [pytest.mark.slow, pytest.mark.ci, pytest.mark.timeout(1200)]

TOKENS = 8
ARGS = ("align", "config.yaml", "--method", "simpo", "--rounds", "3", "-i", "xstest.csv")


def run(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sagert_cmd(), *ARGS], capture_output=True, text=True, cwd=cwd, env=env_with_tests(),
        timeout=1800,
    )  # fmt: skip


@pytest.fixture(scope="module")
def aligned(module_dir: Path) -> dict[str, Any]:
    pytest.importorskip("trl")
    pytest.importorskip("gguf")
    root = module_dir
    (root / "xstest.csv").write_text(XSTEST_LIKE, encoding="utf-8")
    generation = mock_run_config("pipeline", n_samples=12)
    # The evaluate judge calls every answer unsafe (a scripted HarmBench classifier), so every
    # round has pairs however far the model moved toward refusing: this test is about where a
    # round's rejected answers come from, not about the judge.
    generation["models"]["judge"] = {"model": "mock/judge", "args": {"default": "Yes"}}
    config = {
        "runs_dir": str(root / "runs"),
        **generation,
        "evaluate": {"judge": "harmbench"},
        "train": {
            "heldout_fraction": 0.4,
            "batch_size": 2,
            "max_length": 128,
            "max_steps": 1,
            "learning_rate": 5e-5,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
        },
        "align": {
            "config": {"temperature": 0.0, "max_tokens": TOKENS},
            "max_batch_size": 8,
            "rounds": 3,
            "heldout_limit": 4,
            "round_prompts": 6,
        },
    }
    (root / "config.yaml").write_text(json.dumps(config), encoding="utf-8")
    start = time.monotonic()
    proc = run(root)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"\nalign --rounds 3: {seconds:.0f} s")
    return {"root": root, "run": root / "runs" / "x", "proc": proc}


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def shared_words(a: str, b: str) -> int:
    """How many leading words two answers have in common."""
    n = 0
    for x, y in zip(a.split(), b.split(), strict=False):
        if x != y:
            break
        n += 1
    return n


def model_gguf(run_dir: Path, index: int) -> Path:
    if index == 0:
        return run_dir / "train" / "simpo" / "final.gguf"
    return run_dir / "rounds" / f"r{index}" / f"simpo-r{index}" / f"simpo-r{index}.gguf"


def test_three_rounds_on_a_tiny_export_finish(aligned: dict[str, Any]):
    run_dir: Path = aligned["run"]
    summary = json.loads((run_dir / "summary.json").read_text())
    points = summary["rounds"]
    assert [p["target"] for p in points] == ["base", "simpo", "simpo-r1", "simpo-r2"]
    for p in points:  # every point: the same held-out prompts, the same XSTest ones
        assert p["judged"] + p["judge_errors"] + p["target_errors"] == 4 + 1
        assert p["benign_judged"] == 2
        assert p["asr_low"] is not None and p["asr_high"] is not None
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["evaluate"]["targets"] == {
        "base": "llamacpp/smollm2-135m-instruct.f16.gguf",
        "simpo": "llamacpp/final.gguf",
        "simpo-r1": "llamacpp/simpo-r1.gguf",
        "simpo-r2": "llamacpp/simpo-r2.gguf",
    }
    previous = run_dir / "train" / "simpo" / "final"
    for index in (1, 2):
        out = run_dir / "rounds" / f"r{index}" / f"simpo-r{index}"
        result = json.loads((out / "train_result.json").read_text())
        assert result["steps"] == 1
        assert result["base_model"] == str(previous)  # from the last round's weights
        assert model_gguf(run_dir, index).is_file()
        assert not list(out.glob("checkpoint-*"))  # a finished round keeps no optimizer state
        pairs = rows(run_dir / "rounds" / f"r{index}" / "train.jsonl")
        assert points[index + 1]["pairs"] == len(pairs) == points[index + 1]["answered"] == 6
        previous = out / "final"
    assert 'id="rounds"' in (run_dir / "report.html").read_text()
    assert "round 2 (simpo-r2): ASR" in aligned["proc"].stdout


def test_each_rounds_rejected_answers_are_the_previous_rounds_model(aligned: dict[str, Any]):
    run_dir: Path = aligned["run"]
    base = run_dir / "train" / "base-models" / "smollm2-135m-instruct.f16.gguf"
    differs_from_base = 0
    for index in (1, 2):
        pairs = rows(run_dir / "rounds" / f"r{index}" / "train.jsonl")
        assert pairs, f"round {index} found no unsafe answer to train on"
        pairs = pairs[:3]  # three suffice; each answer asked again costs a llama.cpp call
        prompts = [p["prompt"] for p in pairs]
        gguf = model_gguf(run_dir, index - 1)
        asked = _answers(f"llamacpp/{gguf.name}", {"gguf": str(gguf)}, prompts, TOKENS)
        assert {p["rejected_model"] for p in pairs} == {f"llamacpp/{gguf.name}"}
        from_base = _answers("llamacpp/base", {"gguf": str(base)}, prompts, TOKENS)
        # llama.cpp's greedy answer depends on the batch it is decoded in (the round answered
        # up to 8 prompts at once, here 3): a float difference can change a late token ("I'm
        # sorry for your loss, but" / "... loss. I", seen in CI). So the answers are compared
        # by their opening words, and each must be at least as close to the previous round's
        # model as to the base model.
        for pair, mine, theirs in zip(pairs, asked, from_base, strict=True):
            rejected = pair["rejected"]
            assert shared_words(rejected, mine) >= min(3, len(rejected.split())), (rejected, mine)
            assert shared_words(rejected, mine) >= shared_words(rejected, theirs)
        differs_from_base += sum(a != b for a, b in zip(asked, from_base, strict=True))
    assert differs_from_base, "the rounds' models answer as the base does: nothing to tell apart"


def snapshot(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder of every training (a started child writes an error file in its
    folder, which changes the folder's time even when it is gone)."""
    out: dict[str, tuple[int, int]] = {}
    roots = [run_dir / "train", *sorted((run_dir / "rounds").glob("r*/simpo-r*"))]
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in [".", *files]:
                path = Path(folder, name)
                stat = path.stat()
                out[str(path)] = (stat.st_mtime_ns, stat.st_size if name != "." else 0)
    return out


def test_a_rerun_resumes_without_training(aligned: dict[str, Any]):
    run_dir: Path = aligned["run"]
    before = snapshot(run_dir)
    answers = [
        run_dir / "stages" / "evaluate.jsonl",
        *sorted(run_dir.glob("rounds/r*/answers/stages/evaluate.jsonl")),
    ]
    counts = [len(f.read_text().splitlines()) for f in answers]
    start = time.monotonic()
    again = run(aligned["root"])
    print(f"\nresumed align --rounds 3: {time.monotonic() - start:.0f} s")
    assert again.returncode == 0, again.stderr[-3000:]
    assert snapshot(run_dir) == before  # no training started, no model or GGUF written
    assert [len(f.read_text().splitlines()) for f in answers] == counts  # no answer asked
    assert "round 2 (simpo-r2): ASR" in again.stdout
