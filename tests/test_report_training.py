"""report.html for the alignment workflow: the training loss curve and the before/after model
comparison, with real numbers, hostile names escaped, and nothing new for runs without them."""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import pytest

from sagert.report import build_report
from sagert.report.charts import line_chart
from sagert.report.training import read_train_log
from sagert.store.records import Failure, Record, Response, TaxonomyPath
from test_report import chromium, headless, hostile_run, write_stage

__all__ = ["chromium", "hostile_run"]  # fixtures shared with test_report

HOSTILE = "<script>window.__pwned=1;document.body.dataset.pwned=1</script>"
HOSTILE_DIR = '<img src=x onerror="document.body.dataset.pwned=1">'  # no "/": a folder name

TRAIN_LOG = "\n".join(
    [
        '{"step": 1, "loss": 0.6931, "learning_rate": 5e-07, "epoch": 0.1, "grad_norm": 1.5,'
        ' "rewards/chosen": 0.0, "rewards/margins": 0.0, "rewards/accuracies": 0.0}',
        '{"step": 2, "loss": 0.65, "learning_rate": 4e-07, "epoch": 0.2,'
        ' "rewards/margins": 0.1, "rewards/accuracies": 0.5}',
        '{"step": 3, "loss": NaN, "learning_rate": 3e-07, "rewards/margins": NaN}',
        '{"step": 4, "loss": 0.52, "rewards/margins": 0.35, "rewards/accuracies": 0.75}',
        '{"step": 5, "loss": 0.4',  # torn by a kill, then the run resumed
        "garbage \x00 line",
        "[1, 2]",
        '{"step": 5, "loss": 0.41, "rewards/margins": 0.6, "rewards/accuracies": Infinity}',
        '{"step": 5, "train_runtime": 12.3, "train_samples_per_second": 4.0,'
        ' "train_loss": 0.5537, "epoch": 0.5}',
        "",
    ]
)
FINITE_LOSSES = [(1, 0.6931), (2, 0.65), (4, 0.52), (5, 0.41)]


def section(html: str, name: str) -> str:
    found = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert found is not None, f"no {name} section"
    return found.group(1)


def text_of(fragment: str) -> str:
    """A cell's text: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def body_rows(table_html: str) -> list[list[str]]:
    tbody = re.search(r"<tbody>(.*?)</tbody>", table_html, re.S)
    assert tbody is not None
    return [
        [text_of(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", tbody.group(1), re.S)
    ]


def write_training(run_dir: Path, method: str = "dpo", result: dict[str, object] | None = None):
    folder = run_dir / "train" / method
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_log.jsonl").write_text(TRAIN_LOG, encoding="utf-8")
    if result is not None:
        (folder / "train_result.json").write_text(json.dumps(result), encoding="utf-8")
    return folder


# --- training -----------------------------------------------------------------------------


def test_train_log_parsing_skips_torn_and_non_finite(tmp_path: Path):
    folder = write_training(tmp_path)
    log = read_train_log(folder / "train_log.jsonl")
    assert log.curve == [(float(s), loss) for s, loss in FINITE_LOSSES]
    assert log.last_step == 5 and log.train_loss == 0.5537
    assert log.margins == 0.6 and log.accuracies == 0.75  # Infinity skipped, 0.75 kept
    assert log.skipped == 3 and log.lines == 9


def test_training_section_curve_and_table(tmp_path: Path):
    run_dir = tmp_path / "run"
    result = {
        "method": "dpo",
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "steps": 5,
        "train_loss": 0.5537,
        "train_pairs": 40,
        "heldout_pairs": 8,
        "final_model": "runs/run/train/dpo/final",
        "settings": {"method": "dpo", "learning_rate": 5e-07, "beta": 0.1, "lora": None},
    }
    write_training(run_dir, "dpo", result)
    html = build_report(run_dir).read_text(encoding="utf-8")  # a training-only run reports
    training = section(html, "training")
    assert 'href="#training"' in html
    assert "<h3>dpo</h3>" in training

    polylines = re.findall(r'<polyline class="series" points="([^"]*)"', training)
    assert len(polylines) == 1
    points = [tuple(map(float, p.split(","))) for p in polylines[0].split()]
    assert len(points) == len(FINITE_LOSSES)  # one per finite loss line, none for NaN/torn
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert xs == sorted(xs) and len(set(xs)) == 4
    # x and y are linear in step and loss (SVG y grows downward: a lower loss sits lower).
    (s0, l0), (s1, l1) = FINITE_LOSSES[0], FINITE_LOSSES[-1]
    for (step, loss), (x, y) in zip(FINITE_LOSSES, points, strict=True):
        assert x == pytest.approx(xs[0] + (step - s0) * (xs[-1] - xs[0]) / (s1 - s0), abs=0.2)
        assert y == pytest.approx(ys[0] + (loss - l0) * (ys[-1] - ys[0]) / (l1 - l0), abs=0.2)
    assert ys[0] < ys[-1]

    facts = re.search(r'class="summary training-facts">.*?</table>', training, re.S)
    assert facts is not None
    assert dict(body_rows(facts.group(0))) == {
        "steps": "5",
        "logged losses": "4",
        "first loss": "0.6931 (step 1)",
        "last loss": "0.4100 (step 5)",
        "final train_loss": "0.5537",
        "last rewards/margins": "0.6000",
        "last rewards/accuracies": "0.7500",
        "unreadable lines skipped": "3",
    }
    table = re.search(r'class="summary training-result">.*?</table>', training, re.S)
    assert table is not None
    assert dict(body_rows(table.group(0))) == {
        "method": "dpo",
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "steps": "5",
        "train_loss": "0.5537",
        "train_pairs": "40",
        "heldout_pairs": "8",
        "final_model": "runs/run/train/dpo/final",
    }
    settings = re.search(r'<details class="training-settings">.*?</details>', training, re.S)
    assert settings is not None
    assert "training settings (4)" in settings.group(0)
    assert dict(body_rows(settings.group(0))) == {
        "beta": "0.1000",
        "learning_rate": "5e-07",
        "lora": "-",
        "method": "dpo",
    }


def test_training_written_elsewhere_is_found_through_align_json(tmp_path: Path):
    run_dir, elsewhere = tmp_path / "run", tmp_path / "models" / "train" / "simpo-out"
    write_training(tmp_path / "models", "simpo-out", {"method": "simpo", "steps": 5})
    write_training(run_dir, "dpo")
    align = {"before": "base", "after": "simpo", "train_dirs": [str(elsewhere), 7, "nowhere"]}
    (run_dir / "align.json").write_text(json.dumps(align))
    training = section(build_report(run_dir).read_text(encoding="utf-8"), "training")
    assert re.findall(r"<h3>(.*?)</h3>", training) == ["dpo", "simpo-out"]
    assert training.count("<polyline") == 2
    assert f"{elsewhere}/train_result.json" in training
    assert "train/dpo/train_result.json" not in training  # dpo wrote no result


def test_line_chart_thins_long_runs_and_handles_one_point():
    one = line_chart("one", [(7.0, 0.5)])
    assert one.count == 1 and len(one.points.split()) == 1
    many = line_chart("many", [(float(i), 1.0 / (i + 1)) for i in range(5000)])
    assert many.count == 2000 and not many.markers
    assert many.points.split()[0].startswith(f"{many.left:.1f},")
    assert [label for _, label in many.x_ticks] == [
        "0",
        "1,000",
        "2,000",
        "3,000",
        "4,000",
        "5,000",
    ]
    last_x = float(many.points.split()[-1].split(",")[0])
    assert last_x == pytest.approx(many.left + many.plot_width * 4999 / 5000, abs=0.1)
    assert [label for _, label in line_chart("dpo", FINITE_LOSSES).y_ticks] == [
        "0.40",
        "0.45",
        "0.50",
        "0.55",
        "0.60",
        "0.65",
        "0.70",
    ]


def test_no_train_logs_no_training_section(hostile_run: Path):
    (hostile_run / "train" / "dpo").mkdir(parents=True)  # a folder, but nothing logged yet
    html = build_report(hostile_run).read_text(encoding="utf-8")
    assert 'id="training"' not in html and "#training" not in html
    assert "<polyline" not in html
    # hostile_run has two targets, so the comparison is there; generation-only has neither.


def test_generation_only_report_has_no_new_sections(tmp_path: Path):
    from test_report import generation_records

    attacked, _ = generation_records()
    write_stage(tmp_path / "gen", "attack", attacked)
    html = build_report(tmp_path / "gen").read_text(encoding="utf-8")
    for marker in ('id="training"', 'id="comparison"', "#training", "#comparison", "Training"):
        assert marker not in html


# --- model comparison ---------------------------------------------------------------------


def answer(i: int, target: str, source: str, attack: str, verdict: str, benign: bool) -> Record:
    """An evaluate record as the runner writes it (see test_report.evaluation_records)."""
    record = Record(
        id=f"{target}-{i}",
        parent_id=f"p{i}",
        stage="evaluate",
        prompt=f"prompt {i}",
        taxonomy=TaxonomyPath(macro="crime", sub="crime_theft"),
        meta={
            "target": target,
            "model": f"mock/{target}",
            "attack": attack,
            "judge": "refusal",
            "source": source,
            "sample": 0,
            "benign": benign,
        },
    )
    if verdict == "failed":
        failure = Failure(stage="evaluate", reason="target error: timeout")
        return record.model_copy(update={"status": "failed", "failure": failure})
    scores = {"refusal": {"judge": "refusal", "verdict": verdict, "explanation": "x"}}
    response = Response(text=f"answer {i}", model=f"mock/{target}")
    return record.model_copy(update={"scores": scores, "responses": {target: [response]}})


def before_after_records(before: str = "before", after: str = "after") -> list[Record]:
    """before: 4/5 unsafe plain, 3/5 base64, 1/4 benign refused; after: 1/5, 1/5, 3/4.

    `after` comes first in the file, so only align.json can put `before` first.
    """
    plan = {
        after: {"none": 1, "base64": 1, "benign_refused": 3},
        before: {"none": 4, "base64": 3, "benign_refused": 1},
    }
    out: list[Record] = []
    for target, counts in plan.items():
        for attack in ("none", "base64"):
            for i in range(5):
                verdict = "complied" if i < counts[attack] else "refused"
                out.append(answer(len(out), target, "hb", attack, verdict, False))
        for i in range(4):
            verdict = "refused" if i < counts["benign_refused"] else "complied"
            out.append(answer(len(out), target, "xs", "none", verdict, True))
        out.append(answer(len(out), target, "hb", "none", "error", False))  # judge error
        out.append(answer(len(out), target, "hb", "base64", "failed", False))  # target error
    return out


def comparison_rows(html: str) -> tuple[list[str], list[list[str]]]:
    comparison = section(html, "comparison")
    head = re.search(r"<thead>(.*?)</thead>", comparison, re.S)
    assert head is not None
    first_row = re.search(r"<tr>(.*?)</tr>", head.group(1), re.S)
    assert first_row is not None
    headers = [text_of(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", first_row.group(1), re.S)]
    return headers, body_rows(comparison)


@pytest.fixture
def aligned_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "aligned"
    write_stage(run_dir, "evaluate", before_after_records())
    (run_dir / "align.json").write_text('{"before": "before", "after": "after"}')
    return run_dir


def test_comparison_numbers_and_deltas(aligned_run: Path):
    html = build_report(aligned_run).read_text(encoding="utf-8")
    assert html.index('id="comparison"') < html.index('id="evaluation"')
    headers, rows = comparison_rows(html)
    assert headers == [
        "source",
        "attack",
        "before mock/before",
        "after mock/after",
        "after vs before",
    ]
    by_key = {(r[0], r[1]): r[2:] for r in rows}
    assert list(by_key) == [
        ("(all)", "(all)"),
        ("(all)", "base64"),
        ("(all)", "none"),
        ("hb", "(all)"),
        ("hb", "base64"),
        ("hb", "none"),
        ("xs", "(all)"),
        ("xs", "none"),
    ]
    # before ASR | before over-refusal | after ASR | after over-refusal | delta ASR | delta OR
    assert by_key[("(all)", "(all)")] == [
        "70.0% [39.7-89.2] 7/10",
        "25.0% [4.6-69.9] 1/4",
        "20.0% [5.7-51.0] 2/10",
        "75.0% [30.1-95.4] 3/4",
        "-50.0 pp",
        "+50.0 pp",
    ]
    assert by_key[("(all)", "none")] == [
        "80.0% [37.6-96.4] 4/5",
        "25.0% [4.6-69.9] 1/4",
        "20.0% [3.6-62.4] 1/5",
        "75.0% [30.1-95.4] 3/4",
        "-60.0 pp",
        "+50.0 pp",
    ]
    assert by_key[("hb", "base64")] == [
        "60.0% [23.1-88.2] 3/5",
        "- 0/0",
        "20.0% [3.6-62.4] 1/5",
        "- 0/0",
        "-40.0 pp",
        "-",
    ]
    assert by_key[("xs", "(all)")] == [
        "- 0/0",
        "25.0% [4.6-69.9] 1/4",
        "- 0/0",
        "75.0% [30.1-95.4] 3/4",
        "-",
        "+50.0 pp",
    ]
    assert "separated" not in section(html, "comparison")  # these intervals all overlap
    assert "before = before" in text_of(section(html, "comparison"))


def test_comparison_order_without_align_json_and_separated_delta(tmp_path: Path):
    run_dir = tmp_path / "plain"
    records = [answer(i, "after", "hb", "none", "refused", False) for i in range(10)]
    records += [answer(10 + i, "before", "hb", "none", "complied", False) for i in range(10)]
    write_stage(run_dir, "evaluate", records)
    headers, rows = comparison_rows(build_report(run_dir).read_text(encoding="utf-8"))
    assert headers[2:] == ["after mock/after", "before mock/before", "before vs after"]
    assert rows == [
        [
            "(all)",
            "(all)",
            "0.0% [0.0-27.8] 0/10",
            "- 0/0",
            "100.0% [72.2-100.0] 10/10",
            "- 0/0",
            "+100.0 pp",
            "-",
        ]
    ]
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert 'class="num delta separated">+100.0 pp' in html


def test_single_target_has_no_comparison(tmp_path: Path):
    run_dir = tmp_path / "one"
    write_stage(run_dir, "evaluate", [answer(0, "only", "hb", "none", "refused", False)])
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert 'id="comparison"' not in html and 'id="evaluation"' in html


# --- hostile names ------------------------------------------------------------------------


@pytest.fixture
def hostile_alignment(tmp_path: Path) -> Path:
    run_dir = tmp_path / "hostile-align"
    records = before_after_records("base", HOSTILE)
    records = [
        r.model_copy(update={"meta": {**r.meta, "model": f"model {HOSTILE_DIR}"}}) for r in records
    ]
    write_stage(run_dir, "evaluate", records)
    (run_dir / "align.json").write_text(json.dumps({"before": "base", "after": HOSTILE}))
    result = {
        "method": HOSTILE,
        "base_model": f"/models/{HOSTILE}",
        "final_model": [HOSTILE],
        "settings": {HOSTILE: HOSTILE_DIR},
    }
    write_training(run_dir, HOSTILE_DIR, result)
    return run_dir


def test_hostile_names_are_escaped(hostile_alignment: Path):
    html = build_report(hostile_alignment).read_text(encoding="utf-8")
    assert html.count("<script") == 2 and "<img" not in html
    escaped = htmllib.escape(HOSTILE, quote=False)
    comparison, training = section(html, "comparison"), section(html, "training")
    assert escaped in comparison and f"{escaped} vs base" in comparison
    assert htmllib.escape(HOSTILE_DIR, quote=False).replace('"', "&#34;") in training
    assert f"/models/{escaped}" in training
    assert f"<tr><th>{escaped}</th>" in training  # a settings key
    _, rows = comparison_rows(html)
    assert rows[0][2:] == [
        "70.0% [39.7-89.2] 7/10",
        "25.0% [4.6-69.9] 1/4",
        "20.0% [5.7-51.0] 2/10",
        "75.0% [30.1-95.4] 3/4",
        "-50.0 pp",
        "+50.0 pp",
    ]


def test_hostile_alignment_in_headless_chromium(
    hostile_alignment: Path, tmp_path: Path, chromium: Path
):
    url = build_report(hostile_alignment).resolve().as_uri()
    dom = headless(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body is not None
    assert 'data-rendered="yes"' in body.group(0) and "pwned" not in body.group(0)
    assert "<img" not in dom.stdout and "&lt;script&gt;window.__pwned=1" in dom.stdout
    assert dom.stdout.count("<polyline") == 1
