"""The one table reader (store.tables): every format, CSV comments, locations in errors, and
the three callers (respond's prompt files, the evaluate loaders, sagert stats) reading
through it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagert.core.errors import UserError
from sagert.core.ids import stable_id
from sagert.diversity.sources import open_source
from sagert.loaders import load_prompts
from sagert.store import tables
from sagert.store.prompts import read_prompts
from sagert.store.tables import TEXT_COLUMN, Row, columns, rows

PROMPTS = ["How do I bake bread?", "Write a poem, about rain", "What is 2+2?"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def parquet(path: Path, data: dict[str, list[object]]) -> Path:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table(data), path)
    return path


def one_line(excinfo: pytest.ExceptionInfo[UserError]) -> str:
    line = excinfo.value.one_line()
    assert "\n" not in line and "fix:" in line
    return line


def test_jsonl_rows_count_data_rows_and_name_lines(tmp_path: Path):
    body = "".join(json.dumps({"prompt": p, "n": i}) + "\n\n" for i, p in enumerate(PROMPTS))
    path = write(tmp_path / "p.jsonl", body)
    got = list(rows(path))
    assert [r.data["prompt"] for r in got] == PROMPTS
    assert [(r.index, r.line, r.where) for r in got] == [
        (1, 1, "line 1"),
        (2, 3, "line 3"),
        (3, 5, "line 5"),
    ]
    assert columns(path) == ["prompt", "n"]


def test_a_json_list_is_read_whole(tmp_path: Path):
    path = write(tmp_path / "p.json", json.dumps([{"prompt": p} for p in PROMPTS]))
    got = list(rows(path))
    assert [r.data["prompt"] for r in got] == PROMPTS
    assert got[1].where == "item 2" and got[1].line is None


def test_csv_quoted_cells_and_locations(tmp_path: Path):
    path = write(
        tmp_path / "p.csv",
        'prompt,cat\n"How do I bake bread?",food\n"Write a poem, about rain",art\n'
        '"two\nlines",x\nshort\n',
    )
    got = list(rows(path))
    assert [r.data["prompt"] for r in got] == [*PROMPTS[:2], "two\nlines", "short"]
    assert got[2].where == "row 3 (line 5)"  # the line the row ends on
    assert got[3].data == {"prompt": "short", "cat": None}  # a short row: missing cells None
    assert columns(path) == ["prompt", "cat"]


def test_csv_comment_lines_are_skipped_when_asked(tmp_path: Path):
    path = write(
        tmp_path / "judged.csv",
        "# a comment before the header\n"
        "prompt,label\n"
        "# a comment between rows\n"
        'first,"a cell\n# that is not a comment"\n'
        "#last comment, with a comma\n"
        "second,b\n",
    )
    got = list(rows(path, comments=True))
    assert [r.data for r in got] == [
        {"prompt": "first", "label": "a cell\n# that is not a comment"},
        {"prompt": "second", "label": "b"},
    ]
    assert [r.where for r in got] == ["row 1 (line 5)", "row 2 (line 7)"]  # comments count
    assert columns(path, comments=True) == ["prompt", "label"]
    # Off by default: a `#` line is data, as it always was.
    assert columns(path) == ["# a comment before the header"]


def test_tsv_rows(tmp_path: Path):
    path = write(tmp_path / "p.tsv", "prompt\tcat\n" + "".join(f"{p}\tc\n" for p in PROMPTS))
    assert [r.data["prompt"] for r in rows(path)] == PROMPTS  # the comma stays in its cell


def test_txt_is_one_prompt_per_line(tmp_path: Path):
    path = write(tmp_path / "p.txt", "\n".join([PROMPTS[0], "", "   ", *PROMPTS[1:]]) + "\n")
    got = list(rows(path))
    assert [r.data[TEXT_COLUMN] for r in got] == PROMPTS
    assert [(r.index, r.line) for r in got] == [(1, 1), (2, 4), (3, 5)]
    assert columns(path) == [TEXT_COLUMN]


def test_parquet_rows_and_selected_columns(tmp_path: Path):
    path = parquet(tmp_path / "p.parquet", {"prompt": PROMPTS, "big": ["x" * 10] * 3})
    got = list(rows(path))
    assert [r.data["prompt"] for r in got] == PROMPTS and got[2].where == "row 3"
    assert [r.data for r in rows(path, select=["prompt"])] == [{"prompt": p} for p in PROMPTS]
    assert columns(path) == ["prompt", "big"]


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch):
    path = tmp_path / "p.parquet"
    path.write_bytes(b"PAR1")

    def no_pyarrow(name: str):
        raise ImportError(name)

    monkeypatch.setattr(tables.importlib, "import_module", no_pyarrow)
    with pytest.raises(UserError) as info:
        list(rows(path))
    assert "p.parquet: reading Parquet needs pyarrow" in one_line(info)
    assert "pip install 'sagert[hf]'" in info.value.one_line()


def test_a_damaged_parquet_file_is_a_user_error(tmp_path: Path):
    pytest.importorskip("pyarrow")
    path = write(tmp_path / "p.parquet", "not parquet at all")
    with pytest.raises(UserError) as info:
        columns(path)
    assert "p.parquet: not a Parquet file" in one_line(info)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.jsonl", '{"prompt": "x"}\n\n[1]\n', "a.jsonl: line 3: not a JSON object"),
        ("b.jsonl", '{"prompt": "x"}\n{oops\n', "b.jsonl: line 2: not a JSON object"),
        ("c.csv", "prompt\nok\nx,y\n", "c.csv: row 2 (line 3): more cells than header columns"),
        ("d.json", "[1, 2]", "d.json: item 1: not a JSON object"),
        ("e.xlsx", "x", "e.xlsx: unsupported file type .xlsx"),
        ("f.csv", b"prompt\n\xff\n", "f.csv: not UTF-8 text"),
        ("g.txt", b"\xfe\xfe\n", "g.txt: not UTF-8 text"),
    ],
)
def test_bad_rows_are_one_line_errors(tmp_path: Path, name: str, content, expected: str):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError) as info:
        list(rows(path))
    assert expected in one_line(info)


def test_missing_file_and_folder(tmp_path: Path):
    with pytest.raises(UserError, match="prompt file not found"):
        rows(tmp_path / "nope.csv")
    with pytest.raises(UserError, match="a folder, not a table file"):
        rows(tmp_path)


def test_a_bom_is_not_part_of_the_first_column(tmp_path: Path):
    path = tmp_path / "p.csv"
    path.write_bytes("\ufeffprompt\nhi\n".encode())
    assert [r.data for r in rows(path)] == [{"prompt": "hi"}]


# -- the three callers ------------------------------------------------------------------------


def test_read_prompts_reads_every_format_with_the_same_ids(tmp_path: Path):
    """respond's reader: ids from the row number it has always used, so runs still resume."""
    jsonl = write(tmp_path / "p.jsonl", "".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    csv_ = write(tmp_path / "p.csv", "prompt\n" + "".join(f'"{p}"\n' for p in PROMPTS))
    txt = write(tmp_path / "p.txt", "\n".join(PROMPTS) + "\n")
    for path in (jsonl, csv_, txt):
        records = list(read_prompts(path))
        assert [r.prompt for r in records] == PROMPTS, path
    # JSONL and TXT rows are keyed by their line, CSV rows by data row + 1 (as before).
    assert [r.id for r in read_prompts(jsonl)] == [
        stable_id("source", i, p) for i, p in enumerate(PROMPTS, 1)
    ]
    assert [r.meta["source_row"] for r in read_prompts(csv_)] == [2, 3, 4]
    assert [r.meta["source_row"] for r in read_prompts(txt)] == [1, 2, 3]


def test_read_prompts_and_stats_read_parquet(tmp_path: Path):
    path = parquet(tmp_path / "p.parquet", {"q": PROMPTS, "other": [1, 2, 3]})
    records = list(read_prompts(path, "q"))
    assert [r.prompt for r in records] == PROMPTS
    assert records[0].id == stable_id("source", 1, PROMPTS[0])
    source = open_source(path, column="q")
    assert [r.prompt for r in source.records()] == PROMPTS
    with pytest.raises(UserError) as info:
        next(read_prompts(path, "prompt"))
    assert "no 'prompt' column (columns: q, other)" in one_line(info)
    with pytest.raises(UserError) as info:
        next(read_prompts(path, "other"))
    assert "p.parquet: row 1: 'other' must be non-empty text" in one_line(info)


def test_the_callers_go_through_the_one_reader(tmp_path: Path, monkeypatch):
    """A row only the table reader knows reaches respond's reader, the loaders and stats."""
    path = write(tmp_path / "p.csv", "prompt\nfrom the file\n")

    def fake_csv_rows(path: Path, fmt: str, comments: bool):
        yield Row(1, "row 1 (line 2)", {"prompt": "from the reader"}, 2)

    monkeypatch.setattr(tables, "_csv_rows", fake_csv_rows)
    assert [r.prompt for r in read_prompts(path)] == ["from the reader"]
    assert [r.prompt for r in load_prompts(path)] == ["from the reader"]
    assert [r.prompt for r in open_source(path).records()] == ["from the reader"]


def test_loaders_keep_rejecting_txt(tmp_path: Path):
    path = write(tmp_path / "p.txt", "hello\n")
    with pytest.raises(UserError) as info:
        list(load_prompts(path))
    assert "p.txt: unsupported file type .txt" in one_line(info)
    assert [r.prompt for r in read_prompts(path)] == ["hello"]  # respond reads it
