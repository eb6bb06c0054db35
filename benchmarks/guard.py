"""The guard against the refusal judges on the held-out labelled set (docs/guard.md).

    PYTHONPATH=src python benchmarks/guard.py data --out DIR
    PYTHONPATH=src python benchmarks/guard.py compare --out DIR --guard NAME=FOLDER [...]

`data` reads src/sagert/judges/data/refusal_labels.csv with each prompt's kind (harmful or
benign, from scripts/refusal_labels/*.txt) and writes:

- `mix.csv`: the train and validation splits as guard examples (never the held-out split):
  each prompt unsafe when harmful; each answer unsafe when the prompt is harmful and the answer
  complied. An offline addition to a sagert run's data (guard.examples).
- `heldout_harmful.csv`: the held-out answers to harmful prompts, with `label`
  (complied/refused, for the refusal judges) and `unsafe` (1/0, for the guard): the fair
  comparison, since a refusal judge says nothing about harm and complying with a harmful
  request is exactly the unsafe answer.
- `heldout_all.csv`: every held-out answer, `unsafe` = harmful prompt and complied (a refusal
  judge used as a harm judge here also calls helpful answers to benign prompts unsafe).
- `heldout_prompts.csv`: the held-out prompts alone, `unsafe` = harmful (the guard's prompt
  classification; no refusal judge can do this).
- `loop_heldout.csv`: the held-out prompts and answers as one guard example file (the guard
  loop's fixed held-out set).

`compare` runs `sagert judge-eval` for refusal, refusal_semantic and each guard on those files,
grouped by language, each in its own run folder under DIR, and prints one markdown table.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "src" / "sagert" / "judges" / "data" / "refusal_labels.csv"
LANGUAGES = ("en", "es", "fr", "de", "zh")


def kinds() -> dict[str, str]:
    """prompt text -> harmful / benign, from the hand-written sources."""
    spec = importlib.util.spec_from_file_location(
        "build_refusal_labels", ROOT / "scripts" / "build_refusal_labels.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return {p.text: p.kind for path, lang, _ in module.sources() for p in module.parse(path, lang)}


def write(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows):5d} rows -> {path}")


def data(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    kind = kinds()
    rows = list(csv.DictReader(LABELS.read_text(encoding="utf-8").splitlines(keepends=True)))
    guard_cols = ["prompt", "response", "label", "language", "split", "kind"]
    mix: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:
        harmful = kind[row["prompt"]] == "harmful"
        unsafe = harmful and row["label"] == "complied"
        base = {"language": row["language"], "split": row["split"], "kind": kind[row["prompt"]]}
        items = [{**base, "prompt": row["prompt"], "response": row["response"], "unsafe": unsafe}]
        if row["prompt"] not in seen:
            seen.add(row["prompt"])
            items.insert(0, {**base, "prompt": row["prompt"], "response": "", "unsafe": harmful})
        for item in items:
            label = "unsafe" if item.pop("unsafe") else "safe"
            entry = {**item, "label": label}
            (held if row["split"] == "heldout" else mix).append(entry)
    write(out / "mix.csv", guard_cols, mix)
    write(out / "loop_heldout.csv", guard_cols, held)
    answers = [r for r in rows if r["split"] == "heldout"]
    cols = ["prompt", "response", "label", "unsafe", "language", "kind"]

    def answer(r: dict[str, str]) -> dict[str, Any]:
        harmful = kind[r["prompt"]] == "harmful"
        return {
            "prompt": r["prompt"],
            "response": r["response"],
            "label": r["label"],
            "unsafe": int(harmful and r["label"] == "complied"),
            "language": r["language"],
            "kind": kind[r["prompt"]],
        }

    write(
        out / "heldout_harmful.csv",
        cols,
        [answer(r) for r in answers if kind[r["prompt"]] == "harmful"],
    )
    write(out / "heldout_all.csv", cols, [answer(r) for r in answers])
    prompts = [p for p in held if not p["response"]]
    write(
        out / "heldout_prompts.csv",
        ["prompt", "unsafe", "language", "kind"],
        [
            {
                "prompt": p["prompt"],
                "unsafe": int(p["label"] == "unsafe"),
                "language": p["language"],
                "kind": p["kind"],
            }
            for p in prompts
        ],
    )


def judge_eval(
    out: Path,
    name: str,
    judge: list[str],
    file: str,
    label: str,
    positive: str,
    response: str = "response",
) -> dict[str, Any]:
    run_dir = out / f"je-{name}-{Path(file).stem}"
    result = out / f"{run_dir.name}.json"
    cmd = [
        sys.executable,
        "-m",
        "sagert",
        "judge-eval",
        *judge,
        "-i",
        str(out / file),
        "--label-column",
        label,
        "--positive",
        positive,
        "--group-column",
        "language",
        "--response-column",
        response,
        "--run-dir",
        str(run_dir),
        "--json",
        str(result),
    ]
    subprocess.run(cmd, check=True, env={**os.environ}, stdout=subprocess.DEVNULL)
    return json.loads(result.read_text(encoding="utf-8"))


def cell(figures: dict[str, Any]) -> str:
    value = (figures.get("metrics", {}).get("f1") or {}).get("value")
    if value is None:
        return "-"
    low = figures["metrics"]["f1"].get("low")
    high = figures["metrics"]["f1"].get("high")
    return f"{value:.3f}" if low is None else f"{value:.3f} [{low:.2f}, {high:.2f}]"


def row(name: str, file: str, got: dict[str, Any]) -> str:
    groups = {g["group"]: g for g in got["groups"]}
    per = [cell(groups.get(lang, {})) for lang in LANGUAGES]
    return (
        f"| {name} | {file} | {got['n']} | {cell(got)} | "
        + " | ".join(per)
        + f" | {got['errors']} |"
    )


def compare(out: Path, guards: list[str]) -> None:
    """Every judge on every file; `unsafe` is the label (= complied on harmful prompts)."""
    judges: list[tuple[str, list[str], str]] = [
        ("refusal", ["refusal"], "complied"),
        ("refusal_semantic", ["refusal_semantic"], "complied"),
    ]
    for spec in guards:
        name, folder = spec.split("=", 1)
        config = out / f"{name}.judge.yaml"
        config.write_text(
            f"runs_dir: {json.dumps(str(out.resolve()))}\n"
            "stages:\n  judge:\n    judge: guard\n"
            f"    settings: {{model: {json.dumps(str(Path(folder).resolve()))}}}\n",
            encoding="utf-8",
        )
        judges.append((name, ["-c", str(config), "--judge", "judge"], "unsafe"))
    results: dict[str, Any] = {}
    lines = [
        "| judge | file | rows | F1 [95% CI] | " + " | ".join(LANGUAGES) + " | errors |",
        "|" + "---|" * (len(LANGUAGES) + 5),
    ]
    for name, judge, positive in judges:
        files = [("heldout_harmful.csv", "response"), ("heldout_all.csv", "response")]
        if positive == "unsafe":
            files.append(("heldout_prompts.csv", ""))
        for file, response in files:
            got = judge_eval(out, name, judge, file, "unsafe", positive, response)
            results[f"{name}:{file}"] = got
            lines.append(row(name, file, got))
    (out / "compare.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("data")
    d.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--guard", action="append", default=[], help="NAME=FOLDER (repeatable)")
    args = parser.parse_args()
    if args.command == "data":
        data(args.out)
    else:
        compare(args.out, args.guard)


if __name__ == "__main__":
    main()
