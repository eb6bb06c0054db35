"""The guard's data and thresholds: records -> labelled examples (multi-label), labelled files,
the validation split, the threshold choice and the per-class, per-language figures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import env_with_tests, sagert_cmd
from sagert.core.errors import UserError
from sagert.models.classifier import UNSAFE, Thresholds
from sagert.settings.run import RunConfig
from sagert.store.records import Record, Response, TaxonomyPath
from sagert.training.guard import GuardRequest, GuardResult
from sagert.training.guard_data import (
    GuardExample,
    benign_examples,
    build_dataset,
    cap_share,
    file_examples,
    label_vector,
    pair_examples,
    read_examples,
    write_examples,
)
from sagert.training.guard_metrics import (
    best_threshold,
    choose_thresholds,
    counts,
    predictions,
    report,
)
from sagert.workflows import guard as workflow


def pair_record(i: int, macro: str, sub: str, language: str | None = None) -> Record:
    meta: dict = {"pair": {"chosen": 1, "rejected": 0, "judge": "refusal"}}
    if language:
        meta["language"] = language
    return Record(
        id=f"r{i}",
        stage="pairs",
        taxonomy=TaxonomyPath(macro=macro, sub=sub),
        seed_prompt=f"seed {i}",
        prompt=f"harmful request {i}",
        responses={
            "chosen": [Response(text="wrong one", model="m"), Response(text=f"no {i}", model="m")],
            "rejected": [Response(text=f"sure {i}", model="m")],
        },
        meta=meta,
    )


def test_a_pair_is_an_unsafe_prompt_an_unsafe_rejected_answer_and_a_safe_chosen_one():
    examples = list(pair_examples([pair_record(1, "crime", "crime_theft", "es")], "macro"))
    assert [(e.task, e.unsafe, e.categories) for e in examples] == [
        ("prompt", True, ["crime"]),
        ("response", True, ["crime"]),
        ("response", False, []),
    ]
    assert examples[1].response == "sure 1"
    assert examples[2].response == "no 1"  # the pair's index, not the first answer
    assert {e.language for e in examples} == {"es"}
    assert {e.group for e in examples} == {"seed 1"}
    sub = list(pair_examples([pair_record(1, "crime", "crime_theft")], "sub"))
    assert sub[0].categories == ["crime_theft"]
    assert sub[0].language == "en"  # a record naming no language: sagert writes English


def test_records_without_a_pair_or_answers_are_skipped_and_benign_prompts_are_safe():
    broken = pair_record(2, "crime", "x").model_copy(update={"responses": {}})
    no_pair = pair_record(3, "crime", "x").model_copy(update={"meta": {}})
    assert list(pair_examples([broken, no_pair], "macro")) == []
    benign = Record(id="b", stage="gate_extract", status="filtered", prompt="bake bread?")
    (only,) = benign_examples([benign])
    assert (only.task, only.unsafe, only.categories) == ("prompt", False, [])


def test_labels_are_unsafe_then_the_categories_and_vectors_are_multi_label():
    records = [pair_record(i, macro, "s") for i, macro in enumerate(["hate", "crime", "hate"])]
    multi = GuardExample(prompt="p", unsafe=True, categories=["hate", "crime"], split="train")
    data = build_dataset([*pair_examples(records, "macro"), multi], 0.0)
    assert data.labels == [UNSAFE, "crime", "hate"]
    assert label_vector(multi, data.labels) == [1.0, 1.0, 1.0]
    safe = GuardExample(prompt="p", response="r", unsafe=False, categories=["hate"])
    assert label_vector(safe, data.labels) == [0.0, 0.0, 0.0]  # no category without harm


def test_the_split_follows_the_seed_prompt_and_duplicates_are_dropped():
    records = [pair_record(i, "crime", "s") for i in range(60)]
    examples = list(pair_examples(records, "macro"))
    data = build_dataset([*examples, examples[0]], 0.3)
    assert data.duplicates == 1
    assert len(data.examples) == 180
    by_group: dict[str, set[str | None]] = {}
    for e in data.examples:
        by_group.setdefault(e.group, set()).add(e.split)
    assert all(len(sides) == 1 for sides in by_group.values())  # a seed's examples: one side
    held = sum(1 for sides in by_group.values() if sides == {"validation"})
    assert 5 < held < 35  # about 30% of 60 seeds
    assert build_dataset(examples, 0.3).examples == data.examples[: len(examples)]  # stable


def test_fixed_labels_drop_unknown_categories():
    e = GuardExample(prompt="p", unsafe=True, categories=["hate", "new"], split="train")
    data = build_dataset([e], 0.0, labels=[UNSAFE, "hate"])
    assert data.examples[0].categories == ["hate"]


def test_labelled_files_keep_their_split_and_never_use_heldout_rows(tmp_path: Path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "# a comment\n"
        "prompt,response,label,categories,language,split\n"
        'how to pick a lock,sure: rake it,unsafe,"crime, weapons",fr,train\n'
        "how to bake,,safe,,de,validation\n"
        "secret,x,unsafe,crime,en,heldout\n"
        "no split,,0,,,\n",
        encoding="utf-8",
    )
    loaded = file_examples(path)
    assert loaded.skipped_heldout == 1
    got = [(e.task, e.unsafe, e.categories, e.language, e.split) for e in loaded.examples]
    assert got == [
        ("response", True, ["crime", "weapons"], "fr", "train"),
        ("prompt", False, [], "de", "validation"),
        ("prompt", False, [], "en", None),
    ]
    assert all("secret" not in e.prompt for e in loaded.examples)
    everything = file_examples(path, include_heldout=True)
    assert everything.skipped_heldout == 0 and len(everything.examples) == 4


@pytest.mark.parametrize(
    ("row", "field"),
    [("p,r,complied,,en,train", "column 'label'"), ("p,r,safe,,en,test", "column 'split'")],
)
def test_a_bad_label_or_split_names_the_row(tmp_path: Path, row: str, field: str):
    path = tmp_path / "bad.csv"
    path.write_text(f"prompt,response,label,categories,language,split\n{row}\n", encoding="utf-8")
    with pytest.raises(UserError) as info:
        file_examples(path)
    assert field in (info.value.field or "")
    assert "row 1" in (info.value.field or "")


def test_examples_round_trip_through_jsonl(tmp_path: Path):
    rows = list(pair_examples([pair_record(1, "crime", "s", "zh")], "macro"))
    write_examples(tmp_path / "e.jsonl", rows)
    assert read_examples(tmp_path / "e.jsonl") == rows


# --- thresholds and figures -----------------------------------------------------------------


def test_best_threshold_separates_the_classes_and_defaults_to_a_half():
    truth = [False, False, True, True]
    threshold = best_threshold(truth, [0.1, 0.3, 0.35, 0.9])
    assert 0.3 < threshold <= 0.35  # every positive above, every negative below
    assert best_threshold([True, True], [0.2, 0.9]) == 0.5  # one class only: no choice
    assert best_threshold([], []) == 0.5
    # Any threshold in (0.4, 0.6] is perfect: the tie goes to the one nearest 0.5.
    assert best_threshold([False, True], [0.4, 0.6]) == pytest.approx(0.5)


def test_thresholds_are_chosen_per_task_and_for_the_categories():
    labels = [UNSAFE, "hate"]
    rows = [
        GuardExample(prompt="a", unsafe=True, categories=["hate"]),
        GuardExample(prompt="b", unsafe=False),
        GuardExample(prompt="c", response="r", unsafe=True, categories=[]),
        GuardExample(prompt="d", response="r", unsafe=False),
    ]
    probs = np.array([[0.9, 0.8], [0.7, 0.1], [0.3, 0.2], [0.1, 0.6]], dtype=np.float32)
    t = choose_thresholds(rows, probs, labels)
    assert 0.7 < t.prompt <= 0.9  # prompts: 0.9 unsafe, 0.7 safe
    assert 0.1 < t.response <= 0.3 + 1e-6  # responses: 0.3 unsafe, 0.1 safe
    assert 0.2 < t.category <= 0.8  # categories of unsafe rows: hate 0.8 on, 0.2 off
    on = predictions(rows, probs, t)
    assert on[:, 0].tolist() == [True, False, True, False]
    assert on[:, 1].tolist() == [True, False, False, False]  # a safe row has no category


def test_report_gives_f1_per_task_language_and_category():
    labels = [UNSAFE, "hate", "crime"]
    rows = [
        GuardExample(prompt="a", unsafe=True, categories=["hate"], language="en"),
        GuardExample(prompt="b", unsafe=True, categories=["crime"], language="fr"),
        GuardExample(prompt="c", response="r", unsafe=False, language="fr"),
        GuardExample(prompt="d", response="r", unsafe=True, categories=["hate"], language="en"),
    ]
    probs = np.array(
        [[0.9, 0.9, 0.1], [0.2, 0.1, 0.9], [0.8, 0.1, 0.1], [0.9, 0.1, 0.9]], dtype=np.float32
    )
    figures = report(rows, probs, labels, Thresholds())
    assert figures["unsafe"]["prompt"]["tp"] == 1 and figures["unsafe"]["prompt"]["fn"] == 1
    assert figures["unsafe"]["response"]["fp"] == 1 and figures["unsafe"]["response"]["tp"] == 1
    assert figures["unsafe"]["all"]["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert figures["languages"]["en"]["all"]["f1"] == 1.0
    assert figures["languages"]["fr"]["all"]["f1"] == 0.0
    assert figures["categories"]["hate"]["tp"] == 1 and figures["categories"]["hate"]["fn"] == 1
    assert figures["categories"]["crime"]["fp"] == 1  # row 4's crime is predicted, not labelled


def test_f1_is_undefined_without_positives():
    assert counts([False, False], [False, False]).f1() is None
    assert counts([True, False], [False, True]).f1() == 0.0


# --- the workflow's data: a run folder and labelled files, before any training ---------------


def run_with_pairs(tmp_path: Path, n: int) -> RunConfig:
    """A run folder whose stages/pairs.jsonl holds n validated crime pairs."""
    config = RunConfig(runs_dir=tmp_path, name="r")
    stages = config.run_dir / "stages"
    stages.mkdir(parents=True)
    records = [pair_record(i, "crime", "s") for i in range(n)]
    (stages / "pairs.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    return config


def guard_result(out: Path, final: Path, f1: float | None, labels: list[str]) -> GuardResult:
    """A finished training's result, as train_request returns it, without training."""
    return GuardResult(
        output_dir=str(out),
        final_model=str(final),
        base_model="b",
        steps=3,
        train_loss=0.3,
        train_examples=2,
        validation_examples=1,
        labels=labels,
        thresholds={"prompt": 0.5, "response": 0.4, "category": 0.5},
        validation_f1=f1,
        request={},
    )


def test_a_run_folder_gives_its_pairs_and_benign_prompts_with_the_files(tmp_path: Path):
    config = run_with_pairs(tmp_path, 3)
    stages = config.run_dir / "stages"
    benign = Record(id="b", stage="gate_extract", status="filtered", prompt="bake bread?")
    (stages / "benign.jsonl").write_text(benign.model_dump_json() + "\n")
    extra = tmp_path / "extra.csv"
    extra.write_text("prompt,response,label,split\nhi,,safe,train\nsecret,,unsafe,heldout\n")
    settings = config.guard.model_copy(update={"examples": [str(extra)]})
    data = workflow.dataset(config, settings)
    assert len(data.examples) == 3 * 3 + 1 + 1 and data.skipped_heldout == 1
    assert data.labels == [UNSAFE, "crime"]
    out = tmp_path / "out"
    request = workflow.request_for(
        config, settings, data.split("train"), data.split("validation"), data.labels, out
    )
    assert read_examples(Path(request.train_file)) == data.split("train")
    assert "Task:" in request.input_template
    again = workflow.request_for(
        config, settings, data.split("train"), data.split("validation"), data.labels, out
    )
    assert again == request  # same data, same request: a finished training is reused
    fewer = workflow.request_for(
        config, settings, data.split("train")[1:], data.split("validation"), data.labels, out
    )
    assert fewer.examples_sha256 != request.examples_sha256


def grouped(n: int, size: int, tag: str = "p") -> list[GuardExample]:
    return [
        GuardExample(
            prompt=f"{tag}{g}", response=f"a{k}" if k else None, unsafe=True, group=f"{tag}{g}"
        )
        for g in range(n)
        for k in range(size)
    ]


def test_run_share_keeps_whole_prompts_up_to_the_share_by_seed():
    own, others = grouped(10, 3), grouped(20, 1, "f")
    kept = cap_share(own, others, 0.5, seed=1)  # at most 20 of the run's, in whole groups of 3
    assert len(kept) == 18 and len(kept) / (len(kept) + len(others)) <= 0.5
    assert {e.group for e in kept} < {e.group for e in own}
    assert all(sum(e.group == g for e in kept) == 3 for g in {e.group for e in kept})
    assert kept == [e for e in own if e in kept]  # in the run's order
    assert kept == cap_share(own, others, 0.5, seed=1)  # seeded
    picks = {
        tuple(sorted({e.group for e in cap_share(own, others, 0.2, seed=s)})) for s in range(8)
    }
    assert len(picks) > 1  # another seed, other prompts
    assert len(cap_share(own, others, 0.2, seed=1)) == 3  # floor(0.2 * 20 / 0.8) = 5: one group
    assert cap_share(own, others, 1.0, seed=1) == own
    assert cap_share(own, [], 0.1, seed=1) == own  # nothing to weigh it against: all kept


def test_the_run_share_caps_the_runs_examples_against_the_files(tmp_path: Path):
    config = run_with_pairs(tmp_path, 3)
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "prompt,response,label,split\nhi,,safe,train\nho,,safe,train\nhu,,unsafe,train\n"
    )
    settings = config.guard.model_copy(update={"examples": [str(extra)], "run_share": 0.5})
    data = workflow.dataset(config, settings)
    run_rows = [e for e in data.examples if e.prompt.startswith("harmful request")]
    assert len(run_rows) == 3 and len({e.prompt for e in run_rows}) == 1  # one pair: 3 of 6
    everything = workflow.dataset(config, settings.model_copy(update={"run_share": None}))
    assert len(everything.examples) == 9 + 3
    with pytest.raises(ValueError):
        settings.model_validate({**settings.model_dump(), "run_share": 0})


def test_restarts_keep_the_best_validation_f1_as_final(tmp_path: Path, monkeypatch):
    config = RunConfig(runs_dir=tmp_path, name="r")
    f1_by_seed = {7: 0.5, 8: 0.8, 9: 0.8}
    seen: list[int] = []

    def fake(request: GuardRequest) -> GuardResult:
        seed = request.settings.seed
        seen.append(seed)
        final = Path(request.output_dir) / "final"
        final.mkdir(parents=True, exist_ok=True)
        (final / "which.txt").write_text(str(seed))
        return guard_result(Path(request.output_dir), final, f1_by_seed[seed], request.labels)

    monkeypatch.setattr(workflow, "train_request", fake)
    settings = config.guard.model_copy(update={"seed": 7, "restarts": 3})
    rows = [GuardExample(prompt="p", unsafe=True, split="train")]
    out = tmp_path / "guard"
    done = workflow.train_best(config, settings, rows, rows, [UNSAFE], out)
    assert seen == [7, 8, 9]  # each restart its own seed, in its own folder
    assert {p.name for p in out.iterdir()} >= {"seed-7", "seed-8", "seed-9", "final"}
    assert (out / "final" / "which.txt").read_text() == "8"  # best F1, the first of a tie
    assert done.final_model == str(out / "final") and done.validation_f1 == 0.8
    record = json.loads((out / "restarts.json").read_text())
    assert [s["validation_f1"] for s in record["seeds"]] == [0.5, 0.8, 0.8]
    (out / "final" / "which.txt").write_text("kept")
    workflow.train_best(config, settings, rows, rows, [UNSAFE], out)
    assert (out / "final" / "which.txt").read_text() == "kept"  # same choice: not copied again
    one = workflow.train_best(
        config, settings.model_copy(update={"restarts": 1}), rows, rows, [UNSAFE], out
    )
    assert one.final_model == str(out / "final") and seen[-1] == 7  # one training: no seed folder


def test_no_examples_is_one_line_and_exit_2(tmp_path: Path, write_config):
    path = write_config({"name": "empty"})
    done = subprocess.run(
        [*sagert_cmd(), "train", str(path), "--method", "guard"],
        capture_output=True,
        text=True,
        env=env_with_tests(),
        timeout=300,
    )
    assert done.returncode == 2
    assert "no guard training examples" in done.stderr and "sagert generate" in done.stderr


def test_training_records_name_their_library_versions():
    from sagert.training.hf_args import library_versions, warmup_args

    versions = library_versions()
    assert set(versions) <= {"torch", "transformers", "trl", "peft", "accelerate"}
    pytest.importorskip("transformers")
    assert versions["transformers"] and list(warmup_args(0.1).values()) == [0.1]


def test_train_guard_prints_every_restart_and_the_kept_one(tmp_path: Path, monkeypatch, capsys):
    from sagert.cli import guard as cli

    out = tmp_path / "guard"
    (out / "final").mkdir(parents=True)
    record = {
        "chosen": str(out / "seed-43" / "final"),
        "by": "validation unsafe F1",
        "seeds": [
            {"seed": 42, "validation_f1": 0.6, "loss": 0.5},
            {"seed": 43, "validation_f1": 0.74, "loss": 0.3},
            {"seed": 44, "validation_f1": None, "loss": 0.4},
        ],
    }
    (out / "restarts.json").write_text(json.dumps(record))
    result = guard_result(out, out / "final", 0.74, [UNSAFE])
    monkeypatch.setattr(cli.workflow, "run", lambda cfg, settings, output=None: result)
    config = RunConfig(runs_dir=tmp_path, name="r")
    config = config.model_copy(update={"guard": config.guard.model_copy(update={"restarts": 3})})
    cli.train_guard(config, tmp_path / "c.yaml", base_model=None, max_steps=None, output=None)
    printed = " ".join(capsys.readouterr().out.split())
    assert "unsafe F1 0.740" in printed
    assert "seed 42 0.600, seed 43 0.740, seed 44 n/a" in printed and "seed-43" in printed
