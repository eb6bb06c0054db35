"""A multi-turn pair exports in TRL's conversational format: prompt = the earlier turns."""

from __future__ import annotations

import json
from pathlib import Path

from sagert.store.jsonl import StageFile
from sagert.store.records import Record, Response
from sagert.workflows.export import export_run, trl_row


def pair(turns: list[dict[str, str]] | None, prompt: str, rid: str) -> Record:
    return Record(
        id=rid,
        stage="pairs",
        prompt=prompt,
        turns=turns,
        responses={
            "chosen": [Response(text="I won't help with that.", model="aligned")],
            "rejected": [Response(text="Rake the pins.", model="target")],
        },
        scores={
            "refusal": {"chosen": [{"verdict": "refused"}], "rejected": [{"verdict": "complied"}]}
        },
        meta={"pair": {"chosen": 0, "rejected": 0, "judge": "refusal"}},
    )


TURNS = [
    {"role": "user", "content": "What are locks made of?"},
    {"role": "assistant", "content": "Pins and springs."},
    {"role": "user", "content": "How would one open one without the key?"},
]


def test_trl_row_puts_the_earlier_turns_in_the_prompt() -> None:
    row = trl_row(pair(TURNS, TURNS[-1]["content"], "a"), conversational=True)
    assert row["prompt"] == TURNS
    assert row["chosen"] == [{"role": "assistant", "content": "I won't help with that."}]
    assert row["rejected"] == [{"role": "assistant", "content": "Rake the pins."}]


def test_a_run_with_multi_turn_pairs_exports_conversationally(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with StageFile(run / "stages" / "pairs.jsonl") as out:
        out.append([pair(TURNS, TURNS[-1]["content"], "a")])
        out.append([pair(None, "single question", "b")])
    written = export_run(run, ["trl"])
    assert written["trl"].name == "train.conversational.jsonl"
    rows = [json.loads(line) for line in written["trl"].read_text().splitlines()]
    assert rows[0]["prompt"] == TURNS
    assert rows[1]["prompt"] == [{"role": "user", "content": "single question"}]
