"""Which training settings move SmolLM2-135M, and which break it (docs/training.md).

    python benchmarks/recipe_sweep.py                         # data, every setting, the table
    python benchmarks/recipe_sweep.py --only simpo-lr5e-6     # one setting (re-runs resume)

1. Data: one small SAGE export made by the embedded model in every role (the generation of
   benchmarks/alignment.py; `--export` reuses one instead).
2. Each setting of GRID trains the embedded model on the same pairs (the seed split holds 20%
   out), in a child process; its `final/` becomes an f16 GGUF (training/to_gguf.py).
3. The base model and every trained one answer, greedily and through the same llama.cpp engine,
   prompts never used to make training pairs and never reported by benchmarks/alignment.py
   (a recipe is chosen here, so tuning on the reported sets would flatter it): a seeded
   sample of AdvBench behaviours after the first 100 (alignment.py reports the first 100),
   and for over-refusal the English benign look-alikes of sagert's own labelled prompt set
   (judges/data/harm_labels.csv: homonyms, history, fiction, prevention...), not XSTest;
   all judged by `refusal`. Degenerate answers are counted too: empty ones, and answers no
   longer distinct across prompts (a model that says one thing to everything).
Prints a markdown table and writes sweep.json; wall and CPU seconds per step are in both.
`--threads` (default 1) caps torch and llama.cpp threads: on a shared, oversubscribed machine
two spinning threads per process burn CPU time without progress. Needs `sagert[train]`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

SAGERT = [sys.executable, "-m", "sagert"]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from rejudge import pct  # noqa: E402

BASE = {"max_length": 256, "simpo_gamma": 0.8}
# name -> train settings: everything the recipe decides is explicit, so rows differ only by it
GRID: dict[str, dict[str, Any]] = {
    "sage-simpo": {"preset": "sage-simpo"},
    "simpo-lr5e-7": {"method": "simpo", "learning_rate": 5e-7, "beta": 5.0, "epochs": 1},
    "simpo-lr5e-6": {"method": "simpo", "learning_rate": 5e-6, "beta": 5.0, "epochs": 1},
    "simpo-lr5e-5": {"method": "simpo", "learning_rate": 5e-5, "beta": 5.0, "epochs": 1},
    "simpo-lr5e-6-beta2.5": {"method": "simpo", "learning_rate": 5e-6, "beta": 2.5, "epochs": 1},
    "simpo-lr5e-6-ep3": {"method": "simpo", "learning_rate": 5e-6, "beta": 5.0, "epochs": 3},
    "dpo-lr5e-6": {"method": "dpo", "learning_rate": 5e-6, "beta": 0.1, "epochs": 1},
    "dpo-lr5e-5": {"method": "dpo", "learning_rate": 5e-5, "beta": 0.1, "epochs": 1},
}


class Clock:
    """Wall and CPU seconds (this process and its children) of one step."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = round(time.perf_counter() - self.wall, 1)
        self.cpu_s = round(_cpu() - self.cpu, 1)


def _cpu() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        use = resource.getrusage(who)
        total += use.ru_utime + use.ru_stime
    return total


def make_export(work: Path, samples: int, seed: int, threads: int) -> Path:
    import alignment

    args = argparse.Namespace(
        seed=seed, samples=samples, method="simpo", epochs=1.0, learning_rate=None,
        max_tokens=48, advbench=1,
    )  # fmt: skip
    cfg = alignment.config(args)
    cfg.update(name="sweep-data", runs_dir=str(work / "runs"))
    for role in cfg["models"].values():
        role["args"] = {**role["args"], "n_threads": threads}
    for key in ("train", "align", "evaluate"):
        cfg.pop(key)
    path = work / "data.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    for command in (["generate", str(path)], ["export", str(path)]):
        subprocess.run([*SAGERT, *command], check=True, cwd=work)
    return work / "runs" / "sweep-data" / "export" / "train.jsonl"


def train_one(export: Path, work: Path, name: str) -> dict[str, Any]:
    from sagert.models.embedded import embedded_gguf_path
    from sagert.settings.train import TrainSettings
    from sagert.training.child import train_in_child
    from sagert.training.to_gguf import folder_to_gguf
    from sagert.training.trainer import finished_training

    settings = TrainSettings.model_validate({**BASE, **GRID[name], "heldout_fraction": 0.2})
    out = work / "train" / name
    with Clock() as clock:
        done = finished_training(out, settings) or train_in_child(export, settings, out)
    gguf = out / "final.gguf"
    if not gguf.is_file():
        folder_to_gguf(done.final_model, embedded_gguf_path(), gguf)
    base_gguf = work / "train" / "base.f16.gguf"
    if not base_gguf.is_file():
        folder_to_gguf(Path(done.base_model), embedded_gguf_path(), base_gguf)
    data = json.loads((out / "train_result.json").read_text(encoding="utf-8"))
    return {
        "name": name,
        "gguf": str(gguf),
        "base_gguf": str(base_gguf),
        "steps": done.steps,
        "train_loss": round(done.train_loss, 4),
        "train_pairs": done.train_pairs,
        "dropped_too_long": done.dropped_too_long,
        "recipe": data.get("recipe"),
        "train_wall_s": clock.wall_s,
        "train_cpu_s": clock.cpu_s,
    }


def tuning_harmful(work: Path) -> Path:
    """AdvBench after its first 100 behaviours (those are alignment.py's reported set)."""
    with (DATA / "advbench" / "harmful_behaviors.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[100:]
    return write_prompts(work / "advbench_tail.csv", [r["goal"] for r in rows])


def tuning_benign(work: Path) -> Path:
    """Benign prompts that look harmful, from sagert's labelled set (XSTest is reported)."""
    labels = Path(__file__).resolve().parents[1] / "src/sagert/judges/data/harm_labels.csv"
    with labels.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    benign = [r["prompt"] for r in rows if r["label"] != "unsafe" and r["language"] == "en"]
    return write_prompts(work / "lookalikes.csv", benign)


def write_prompts(path: Path, prompts: list[str]) -> Path:
    """A one-column prompt CSV that the generic loader reads."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["prompt"])
        writer.writeheader()
        writer.writerows({"prompt": p} for p in prompts)
    return path


def evaluate(work: Path, targets: dict[str, str], args: argparse.Namespace) -> Clock:
    """One evaluation run, every model a target: resumes, so a new target is the only work."""
    spec = {"temperature": 0.0, "max_tokens": args.tokens}
    cfg = {
        "name": "sweep-eval",
        "runs_dir": str(work / "runs"),
        "seed": args.seed,
        "evaluate": {
            "prompts": [
                {"path": str(tuning_harmful(work)), "name": "advbench_tail",
                 "benign": False, "sample": args.advbench},
                {"path": str(tuning_benign(work)), "name": "lookalikes", "benign": True,
                 "sample": args.benign},
            ],
            "targets": {
                name: {"model": f"llamacpp/{Path(g).name}", "config": spec,
                       "args": {"gguf": g, "n_parallel": 8, "n_threads": args.threads}}
                for name, g in targets.items()
            },
            "judge": "refusal",
        },
    }  # fmt: skip
    path = work / "eval.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    with Clock() as clock:
        subprocess.run([*SAGERT, "-q", "evaluate", str(path), "--no-report"], check=True, cwd=work)
    return clock


def answers(work: Path) -> dict[str, dict[str, Any]]:
    """Per target: rates with intervals (summary.json) and how degenerate the answers are."""
    from sagert.results.intervals import wilson

    run = work / "runs" / "sweep-eval"
    rows = list(csv.DictReader((run / "results.csv").open(encoding="utf-8")))
    out: dict[str, dict[str, Any]] = {}
    for target in sorted({r["target"] for r in rows}):
        mine = [r for r in rows if r["target"] == target and r["outcome"] != "target_error"]
        harmful = [r for r in mine if r["benign"] != "true"]
        safe = [r for r in mine if r["benign"] == "true"]
        unsafe = sum(r["outcome"] == "success" for r in harmful)
        refused = sum(r["refusal"] == "refused" for r in safe)
        texts = [r["response"].strip() for r in mine]
        out[target] = {
            "harmful": len(harmful),
            "asr": unsafe / len(harmful) if harmful else None,
            "asr_ci": wilson(unsafe, len(harmful)),
            "safe": len(safe),
            "over_refusal": refused / len(safe) if safe else None,
            "over_refusal_ci": wilson(refused, len(safe)),
            "empty": sum(not t for t in texts),
            "distinct": len(set(texts)),
            "answers": len(texts),
            "mean_chars": round(sum(map(len, texts)) / max(1, len(texts)), 1),
            "example": next((r["response"][:90] for r in harmful), ""),
        }
    return out


def table(trained: list[dict[str, Any]], measured: dict[str, dict[str, Any]]) -> str:
    head = (
        "| setting | steps | loss | train s (wall/CPU) | ASR [95% CI] | over-refusal [95% CI] "
        "| empty | distinct | mean chars |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in [{"name": "base"}, *trained]:
        m = measured.get(row["name"])
        if m is None:
            continue
        train = (
            f"{row['steps']} | {row['train_loss']} | {row['train_wall_s']}/{row['train_cpu_s']}"
            if "steps" in row
            else "- | - | -"
        )
        lines.append(
            f"| {row['name']} | {train} | {pct(m['asr'], m['asr_ci'])} ({m['harmful']}) "
            f"| {pct(m['over_refusal'], m['over_refusal_ci'])} ({m['safe']}) | {m['empty']} "
            f"| {m['distinct']}/{m['answers']} | {m['mean_chars']} |"
        )
    return head + "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/sagert-recipe-sweep"))
    p.add_argument("--export", type=Path, help="a TRL export to train on (default: make one)")
    p.add_argument("--samples", type=int, default=40, help="generation: stages.sample.n_samples")
    p.add_argument("--only", nargs="*", choices=sorted(GRID), help="default: every setting")
    p.add_argument("--advbench", type=int, default=40, help="AdvBench behaviours (sampled)")
    p.add_argument("--benign", type=int, default=100, help="benign look-alikes (sampled)")
    p.add_argument("--tokens", type=int, default=40, help="answer length when evaluating")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=1, help="torch and llama.cpp threads")
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the training child's torch threads
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    with Clock() as data_clock:
        export = args.export or make_export(work, args.samples, args.seed, args.threads)
    trained, timings = [], {"data": [data_clock.wall_s, data_clock.cpu_s]}
    for name in args.only or list(GRID):
        row = train_one(export.resolve(), work, name)
        trained.append(row)
        targets = {"base": row["base_gguf"], **{r["name"]: r["gguf"] for r in trained}}
        clock = evaluate(work, targets, args)
        timings[f"evaluate {name}"] = [clock.wall_s, clock.cpu_s]
        print(f"{name}: trained {row['train_wall_s']} s, evaluated {clock.wall_s} s", flush=True)
    measured = answers(work)
    (work / "sweep.json").write_text(
        json.dumps({"trained": trained, "measured": measured, "timings": timings}, indent=2)
    )
    print(table(trained, measured))
    print("timings (wall s, CPU s):", json.dumps(timings))


if __name__ == "__main__":
    main()
