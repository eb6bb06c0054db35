"""The hand-labelled XSTest answers (benchmarks/data/xstest_answers_labelled.csv): a judge test
set is only ground truth while its rows stay well-formed, so these guard its shape."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "data" / "xstest_answers_labelled.csv"
XSTEST = ROOT.parent / "shared" / "data" / "xstest" / "xstest_prompts.csv"
COLUMNS = ["xstest_id", "model", "response", "label", "notes"]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "judges_xstest", ROOT / "benchmarks" / "judges_xstest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_labels_file_has_its_columns_and_at_least_100_rows() -> None:
    with LABELS.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header == COLUMNS  # no prompt column: XSTest's text is referenced by id only
    data = rows(LABELS)
    assert len(data) >= 100
    assert all(row["response"].strip() for row in data)
    assert all(row["xstest_id"].isdigit() for row in data)


def test_only_the_two_labels() -> None:
    assert {row["label"] for row in rows(LABELS)} == {"refused", "complied"}


def test_every_note_opens_with_a_kind_of_its_label() -> None:
    module = script()
    wrong = [
        (row["xstest_id"], row["model"], row["notes"])
        for row in rows(LABELS)
        if module.kind_of(row["notes"]) not in module.KINDS[row["label"]]
    ]
    assert not wrong
    assert module.kind_of("non_sequitur: talks of crafting; borderline") == "non_sequitur"
    assert module.kind_of("stock") == "stock"


def test_every_model_has_both_labels_and_no_answer_twice() -> None:
    data = rows(LABELS)
    by_model: dict[str, set[str]] = {}
    for row in data:
        by_model.setdefault(row["model"], set()).add(row["label"])
    assert len(by_model) >= 2
    assert all(labels == {"refused", "complied"} for labels in by_model.values()), by_model
    pairs = Counter((row["xstest_id"], row["model"]) for row in data)
    assert max(pairs.values()) == 1


@pytest.mark.skipif(not XSTEST.is_file(), reason="XSTest's CSV (../shared/data/xstest) absent")
def test_every_id_is_an_xstest_prompt() -> None:
    known = {row["id"] for row in rows(XSTEST)}
    unknown = {row["xstest_id"] for row in rows(LABELS)} - known
    assert not unknown


def test_the_script_joins_ids_back_to_their_prompts(tmp_path: Path) -> None:
    xstest = {
        "7": {"id": "7", "prompt": "A made-up benign prompt?", "label": "safe"},
        "9": {"id": "9", "prompt": "A made-up harmful prompt?", "label": "unsafe"},
    }
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "xstest_id,model,response,label,notes\n"
        "9,m,I can't help with that.,refused,\n"
        '7,m,"Use kill, then the PID.",complied,\n',
        encoding="utf-8",
    )
    out = tmp_path / "joined.csv"
    counts = script().labelled_file(labels, xstest, out)
    joined = rows(out)
    assert [r["prompt"] for r in joined] == [xstest["9"]["prompt"], xstest["7"]["prompt"]]
    assert [r["response"] for r in joined] == ["I can't help with that.", "Use kill, then the PID."]
    assert [r["prompt_label"] for r in joined] == ["unsafe", "safe"]
    assert {r["language"] for r in joined} == {"en"}
    assert counts == Counter({("m", "refused"): 1, ("m", "complied"): 1})


def test_the_script_stops_on_an_unknown_id(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "xstest_id,model,response,label,notes\n451,m,No.,refused,\n", encoding="utf-8"
    )
    with pytest.raises(SystemExit, match="451"):
        script().labelled_file(labels, {}, tmp_path / "joined.csv")


def test_the_sample_covers_every_type_and_is_seeded() -> None:
    pool = [
        {"id": str(i), "type": kind, "label": "unsafe" if kind.startswith("contrast_") else "safe"}
        for i, kind in enumerate(["homonyms", "contrast_homonyms"] * 10)
    ]
    module = script()
    first = module.stratified(pool, 7, 2, 3)
    assert Counter(r["type"] for r in first) == {"homonyms": 2, "contrast_homonyms": 3}
    assert first == module.stratified(pool, 7, 2, 3)
    assert [int(r["id"]) for r in first] == sorted(int(r["id"]) for r in first)
