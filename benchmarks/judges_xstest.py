"""Refusal judges on XSTest answers labelled by hand (docs/evaluation.md): prints numbers only.

    python benchmarks/judges_xstest.py                         # judge-eval of every refusal judge
    python benchmarks/judges_xstest.py --json-dir out/         # + each judge's figures as JSON
    python benchmarks/judges_xstest.py sample --out DIR        # the prompt samples answered
    python benchmarks/judges_xstest.py draft --run RUN --prompts DIR/x.csv --model NAME

`benchmarks/data/xstest_answers_labelled.csv` holds real model answers to XSTest prompts, each
labelled `refused` or `complied` by a reader of the whole answer (no judge or pattern assigned a
label). It names the prompt by its XSTest id only (the prompts are CC-BY-4.0 and are not copied
into this repository): this script joins the ids back to XSTest's CSV
(`../shared/data/xstest/xstest_prompts.csv` beside the checkout, or `--xstest`), writes a
temporary labelled file (prompt, response, label, language=en, model, prompt_label, kind,
borderline) and runs `sagert judge-eval JUDGE --positive refused --group-column model` for
`refusal` and, when it is registered, `refusal_semantic`; then the same grouped by XSTest's
safe/unsafe prompt label, by the kind of refusal or compliance (the first word of the notes)
and by whether the labeller marked the row borderline. Neither judge calls a model.

When the checkout ships `refusal_semantic`'s own labelled data
(`src/sagert/judges/data/refusal_labels.csv`), its `heldout` split (never trained or tuned on)
is judged too, grouped by language.

`sample` writes the stratified samples the answers came from (seeded; every XSTest type); the
answers were made with `sagert respond CONFIG -i DIR/<model>_prompts.csv`, and `draft` turns a
respond run into unlabelled rows of the labels file, for a person to label.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "data" / "xstest_answers_labelled.csv"
XSTEST = ROOT.parent / "shared" / "data" / "xstest" / "xstest_prompts.csv"
HELDOUT = ROOT / "src" / "sagert" / "judges" / "data" / "refusal_labels.csv"
SAGERT = [sys.executable, "-m", "sagert"]
JUDGES = ("refusal", "refusal_semantic")
COLUMNS = ("xstest_id", "model", "response", "label", "notes")
METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "kappa")
SAMPLES = {
    # model: (seed, prompts per safe type, per unsafe (contrast_) type, drawn from)
    "smollm2": (7, 9, 9, None),
    "qwen": (11, 3, 4, "smollm2"),
}
"""SmolLM2 answers 9 prompts of each of XSTest's 18 types (162); the instruction model answers
a subset of those (3 per safe type, 4 per unsafe one: 62), so the two answer the same prompts."""


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows({k: row.get(k, "") for k in fields} for row in rows)


def xstest_rows(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        sys.exit(f"error: {path}: XSTest's xstest_prompts.csv not found (fix: pass --xstest PATH)")
    return {row["id"]: row for row in read_csv(path)}


def stratified(rows: list[dict[str, str]], seed: int, safe: int, unsafe: int) -> list[dict]:
    """`safe` prompts of every safe type and `unsafe` of every contrast_ type, in id order."""
    by_type: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_type[row["type"]].append(row)
    rng = random.Random(seed)
    picked: list[dict[str, str]] = []
    for kind in sorted(by_type):
        n = unsafe if kind.startswith("contrast_") else safe
        picked += rng.sample(by_type[kind], n)
    return sorted(picked, key=lambda row: int(row["id"]))


def sample(args: argparse.Namespace) -> None:
    xstest = list(xstest_rows(args.xstest).values())
    drawn: dict[str, list[dict[str, str]]] = {}
    for model, (seed, safe, unsafe, source) in SAMPLES.items():
        pool = drawn[source] if source else xstest
        drawn[model] = stratified(pool, seed, safe, unsafe)
        out = args.out / f"{model}_prompts.csv"
        write_csv(out, drawn[model], ("id", "prompt", "type", "label"))
        kinds = Counter(row["label"] for row in drawn[model])
        print(f"{out}: {len(drawn[model])} prompts ({dict(sorted(kinds.items()))})")


def draft(args: argparse.Namespace) -> None:
    """A respond run's answers as unlabelled rows (label and notes left for a person)."""
    from sagert.store.run import RunStore

    prompts = read_csv(args.prompts)
    by_prompt = {row["prompt"]: row["id"] for row in prompts}  # XSTest's prompts are unique
    out: list[dict[str, Any]] = []
    for record in RunStore.reader(args.run).records("respond", ok_only=True):
        xstest_id = by_prompt[record.prompt or ""]
        for answer in record.responses[args.role]:
            out.append({"xstest_id": xstest_id, "model": args.model, "response": answer.text})
    out.sort(key=lambda row: int(row["xstest_id"]))
    write_csv(args.out, out, COLUMNS)
    print(f"{args.out}: {len(out)} unlabelled rows of {args.model}")


def registered_judges() -> list[str]:
    """The refusal judges this checkout has (refusal_semantic arrives on its own branch)."""
    from sagert.judges import judges

    return [name for name in JUDGES if name in judges]


JOINED = ("prompt", "response", "label", "language", "model", "prompt_label", "kind", "borderline")
KINDS = {
    "refused": ("stock", "decline", "moralising", "redirect", "reinterpreted", "non_sequitur"),
    "complied": ("full", "poor"),
}
"""The first word of a row's notes: how it refused or complied (docs/evaluation.md)."""


def kind_of(notes: str) -> str:
    return re.split(r"[:;]", notes, maxsplit=1)[0].strip()


def labelled_file(labels: Path, xstest: dict[str, dict[str, str]], out: Path) -> Counter[str]:
    """The judge-eval input: each labelled answer with its XSTest prompt joined back by id."""
    rows = []
    for row in read_csv(labels):
        prompt = xstest.get(row["xstest_id"])
        if prompt is None:
            sys.exit(f"error: {labels}: xstest_id {row['xstest_id']} is not in XSTest")
        rows.append(
            {
                "prompt": prompt["prompt"],
                "response": row["response"],
                "label": row["label"],
                "language": "en",
                "model": row["model"],
                "prompt_label": prompt["label"],
                "kind": f"{row['label']}/{kind_of(row['notes'])}",
                "borderline": "borderline" if "borderline" in row["notes"] else "clear",
            }
        )
    write_csv(out, rows, JOINED)
    return Counter((row["model"], row["label"]) for row in rows)


def judge_eval(judge: str, data: Path, group: str, run_dir: Path, json_path: Path) -> str:
    command = [
        *SAGERT,
        "judge-eval",
        judge,
        "-i",
        str(data),
        "--positive",
        "refused",
        "--group-column",
        group,
        "--run-dir",
        str(run_dir),
        "--json",
        str(json_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(command)}:\n{done.stdout}{done.stderr}")
    return done.stdout


def evaluate(args: argparse.Namespace) -> None:
    judges = registered_judges()
    missing = sorted(set(JUDGES) - set(judges))
    if missing:
        print(f"not registered here (skipped): {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="judges-xstest-") as tmp:
        work = Path(tmp)
        data = work / "xstest_labelled.csv"
        counts = labelled_file(args.labels, xstest_rows(args.xstest), data)
        for (model, label), n in sorted(counts.items()):
            print(f"{model}: {label} {n}")
        sets = [
            ("xstest", data, group) for group in ("model", "prompt_label", "kind", "borderline")
        ]
        if args.heldout.is_file():
            heldout = work / "refusal_labels_heldout.csv"
            rows = [row for row in read_csv(args.heldout) if row["split"] == "heldout"]
            write_csv(heldout, rows, ("prompt", "response", "label", "language"))
            sets.append(("heldout", heldout, "language"))
        for judge in judges:
            for name, path, group in sets:
                out = work / f"{judge}-{name}-{group}.json"
                print(f"\n== {judge} on {name}, by {group}")
                printed = judge_eval(judge, path, group, work / f"run-{judge}-{name}", out)
                print(printed if args.verbose else printed.strip().splitlines()[-1])
                if args.json_dir:
                    args.json_dir.mkdir(parents=True, exist_ok=True)
                    (args.json_dir / out.name).write_text(out.read_text(encoding="utf-8"))
                print(table(json.loads(out.read_text(encoding="utf-8"))))


def table(summary: dict[str, Any]) -> str:
    """A Markdown table of a judge-eval JSON file: all rows, then each group."""

    def cell(e: dict[str, Any]) -> str:
        if e["value"] is None:
            return "-"
        if e["low"] is None:
            return f"{e['value']:.3f}"
        return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"

    def line(name: str, block: dict[str, Any]) -> str:
        c, m = block["confusion"], block["metrics"]
        counts = f"{c['tp']}/{c['fn']}/{c['fp']}/{c['tn']}"
        cells = [name, str(block["n"]), str(block["errors"]), counts]
        return "| " + " | ".join(cells + [cell(m[k]) for k in METRICS]) + " |"

    head = [summary["group_column"] or "", "n", "errors", "TP/FN/FP/TN", *METRICS]
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head), line("all", summary)]
    out += [line(g["group"], g) for g in summary.get("groups", [])]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xstest", type=Path, default=XSTEST, help="XSTest's prompts CSV.")
    parser.add_argument("--labels", type=Path, default=LABELS, help="The hand-labelled answers.")
    parser.add_argument(
        "--heldout", type=Path, default=HELDOUT, help="refusal_semantic's labelled set (if any)."
    )
    parser.add_argument("--json-dir", type=Path, help="Keep each judge-eval JSON here.")
    parser.add_argument("--verbose", action="store_true", help="Print judge-eval's own tables.")
    sub = parser.add_subparsers(dest="command")
    s = sub.add_parser("sample", help="Write the stratified prompt samples.")
    s.add_argument("--out", type=Path, required=True)
    d = sub.add_parser("draft", help="A respond run's answers as unlabelled rows.")
    d.add_argument("--run", type=Path, required=True, help="The respond run folder.")
    d.add_argument("--prompts", type=Path, required=True, help="The prompts file it answered.")
    d.add_argument("--model", required=True, help="The model column's value.")
    d.add_argument("--role", default="target")
    d.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    {"sample": sample, "draft": draft}.get(args.command, evaluate)(args)


if __name__ == "__main__":
    main()
