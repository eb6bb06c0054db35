"""report.html: self-contained, escaped, and inert against hostile data, checked in a real
headless Chromium (installed from Debian when missing)."""

from __future__ import annotations

import base64
import hashlib
import html as htmllib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from browser import headless, require_chromium
from sagert.core.errors import UserError
from sagert.report import build_report
from sagert.report.build import script_json
from sagert.store.records import Failure, LineageStep, Record, Response, TaxonomyPath

MARK = "document.body.dataset.pwned=1"
PAYLOADS = (
    f"<script>window.__pwned=1;{MARK}</script>",
    f'<img src=x onerror="window.__pwned=1;{MARK}">',
    f"</script><script>window.__pwned=1;{MARK}</script>",
    f'"><svg onload="{MARK}"></svg>',
    "\u2028line separator & ampersand <!-- comment",
)


@pytest.fixture(scope="session")
def chromium() -> Path:
    return require_chromium()


def payload(i: int) -> str:
    return PAYLOADS[i % len(PAYLOADS)]


def evaluation_records() -> list[Record]:
    out = []
    verdicts = ["complied", "refused", "error", "complied", "refused", "complied"]
    attacks = ["none", "base64", "none", "roleplay", "base64", "none"]
    macros = ["crime", "crime", "weapons", "weapons", "hate", "hate"]
    for i in range(12):
        target = "target" if i % 2 == 0 else "other"
        meta = {
            "target": target,
            "model": f"mock/{target}",
            "attack": attacks[i % 6],
            "judge": "refusal",
            "source": "hostile",
            "sample": 0,
            "benign": i >= 10,
        }
        record = Record(
            id=f"e{i}",
            parent_id=f"p{i}",
            stage="evaluate",
            prompt=f"request {i}: {payload(i)}",
            seed_prompt=f"plain {i}: {payload(i + 1)}",
            taxonomy=TaxonomyPath(macro=macros[i % 6], sub=f"{macros[i % 6]}_{payload(i)}"),
            lineage=[LineageStep(name="attack:base64", before="x", after=payload(i + 2))],
            meta=meta,
        )
        if i == 7:
            failure = Failure(stage="evaluate", reason=f"target error: {payload(i)}")
            out.append(record.model_copy(update={"status": "failed", "failure": failure}))
            continue
        verdict = verdicts[i % 6]
        scores = {
            "refusal": {
                "judge": "refusal",
                "verdict": verdict,
                "explanation": payload(i),
                "error": "empty response" if verdict == "error" else None,
            }
        }
        response = Response(text=f"answer {i}: {payload(i + 3)}", model=f"mock/{target}")
        out.append(record.model_copy(update={"scores": scores, "responses": {target: [response]}}))
    return out


def generation_records() -> tuple[list[Record], list[Record]]:
    attacked, pairs = [], []
    for i in range(6):
        record = Record(
            id=f"g{i}",
            stage="attack",
            prompt=f"generated {i}: {payload(i)}",
            seed_prompt=f"seed {i}",
            taxonomy=TaxonomyPath(macro="crime", sub=["crime_theft", "crime_cyber"][i % 2]),
            format=["email", "question"][i % 2],
            persona="a student",
            meta={"attack": ["none", "base64", "leetspeak"][i % 3], "region": payload(i)},
        )
        attacked.append(record)
        chosen = Response(text=f"no: {payload(i + 1)}", model="mock/a")
        rejected = Response(text=f"yes: {payload(i + 2)}", model="mock/u")
        judged = record.child(
            "pairs",
            responses={"chosen": [chosen], "rejected": [rejected]},
            scores={
                "refusal": {
                    "chosen": [{"verdict": "refused"}],
                    "rejected": [{"verdict": "complied"}],
                }
            },
        )
        if i == 5:
            judged = judged.model_copy(
                update={
                    "status": "failed",
                    "failure": Failure(
                        stage="pairs", reason=f"dropped: chosen not safe ({payload(i)})"
                    ),
                }
            )
        pairs.append(judged)
    return attacked, pairs


def write_stage(run_dir: Path, stage: str, records: list[Record]) -> None:
    path = run_dir / "stages" / f"{stage}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def hostile_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "runs" / "hostile"
    write_stage(run_dir, "evaluate", evaluation_records())
    failed_attack = Record(
        id="fa", stage="eval_attack", status="failed", meta={"eval_attack": "roleplay"}
    )
    write_stage(run_dir, "eval_attack", [failed_attack])
    attacked, pairs = generation_records()
    write_stage(run_dir, "attack", attacked)
    write_stage(run_dir, "pairs", pairs)
    manifest = {
        "name": "hostile",
        "seed": 7,
        "stages": {
            "attack": {
                "inputs": 2,
                "written": 6,
                "failed": 0,
                "seconds": 1.5,
                "calls": {"mock/gen": {"calls": 4}},
            }
        },
        "diversity": {
            "distinct_2": 0.61,
            "self_bleu": 0.25,
            "note": payload(1),
            "per_macro": {"crime": 0.7, payload(0): 0.5},
        },
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run_dir


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_report_html_is_escaped_and_self_contained(hostile_run: Path):
    path = build_report(hostile_run)
    assert path == hostile_run / "report.html"
    html = path.read_text(encoding="utf-8")
    assert html.count("<script") == 2  # the JSON data block and our own script
    assert html.count("</script>") == 2
    assert "<img" not in html and "<svg onload" not in html and "<script>window" not in html
    assert "<!-- comment" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    # Only our own inline style and script may run, by hash.
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy is not None
    csp = htmllib.unescape(policy.group(1))
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert script and style
    assert f"script-src {_csp_hash(script.group(1))}" in csp
    assert f"style-src {_csp_hash(style.group(1))}" in csp
    # The data block round-trips and holds the payloads intact, as data.
    block = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    assert block is not None
    data = json.loads(block.group(1))
    prompts = [row["prompt"] for row in data["rows"]]
    assert any(PAYLOADS[2] in p for p in prompts) and data["total"] == 12
    assert "\u2028" not in block.group(1)
    assert "per_macro" in html and "self-BLEU" in html  # the manifest's diversity figures


def test_script_json_cannot_close_its_tag():
    text = script_json({"x": "</script><script>alert(1)</script>&\u2028\u2029"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(str(text)) == {"x": "</script><script>alert(1)</script>&\u2028\u2029"}


def test_report_in_headless_chromium(hostile_run: Path, tmp_path: Path, chromium: Path):
    path = build_report(hostile_run)
    url = path.resolve().as_uri()
    dom = headless(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    body = re.search(r"<body[^>]*>", html)
    assert body is not None
    assert 'data-rendered="yes"' in body.group(0)  # our script ran to the end
    assert "pwned" not in body.group(0)  # no script from the data did
    assert html.count("<svg") >= 6  # heatmaps and bar charts
    tbody = re.search(r'<table id="records-table".*?<tbody>(.*?)</tbody>', html, re.S)
    assert tbody is not None and tbody.group(1).count("<tr>") == 12
    assert "&lt;img src=x onerror=" in html  # the payload shown as text
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1" in html
    assert "<img" not in html

    shot = tmp_path / "report.png"
    result = headless(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1400,2000", url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    keep = os.environ.get("SAGERT_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_generation_only_report(tmp_path: Path):
    run_dir = tmp_path / "gen"
    attacked, pairs = generation_records()
    write_stage(run_dir, "attack", attacked)
    write_stage(run_dir, "pairs", pairs)
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert 'id="generation"' in html and 'id="evaluation"' not in html
    for title in (
        "Prompts per macro category",
        "Prompts per task format",
        "Prompts per attack style",
        "Pairs kept and dropped",
    ):
        assert title in html
    assert "6 of 6 records from stages/pairs.jsonl" in html
    assert "distinct-2" in html and "self-BLEU" in html  # diversity of the prompt set


def test_report_cli(hostile_run: Path, tmp_path: Path):
    from test_evaluate import run_cli

    out = tmp_path / "elsewhere.html"
    proc = run_cli("report", str(hostile_run), "-o", str(out), "--max-rows", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and "3 of 12 records" in out.read_text(encoding="utf-8")


def test_nothing_to_report(tmp_path: Path):
    with pytest.raises(UserError, match="nothing to report"):
        build_report(tmp_path)
    with pytest.raises(UserError, match="run directory not found"):
        build_report(tmp_path / "missing")
