"""The before/after alignment experiment on CPU (docs/evaluation.md): prints numbers only.

    python benchmarks/alignment.py                       # SimPO, the SAGE authors' recipe
    python benchmarks/alignment.py --method dpo --learning-rate 5e-6 --epochs 2   # same run: + dpo
    python benchmarks/alignment.py --rounds 3            # + two rounds on the model's own failures

One `sagert align` run with the embedded SmolLM2-135M as every role: it generates SAGE data,
trains on the pairs whose seed prompt is not held out, then the base and the trained model
(same engine, greedy) answer the held-out generated prompts, AdvBench's first N behaviours and
XSTest (its safe prompts give over-refusal). The refusal judge scores every answer. Needs
`sagert[train]`; re-running the same command resumes every step.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

SAGERT = [sys.executable, "-m", "sagert"]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def config(args: argparse.Namespace) -> dict[str, Any]:
    smol = {"model": "llamacpp/smollm2", "args": {"n_parallel": 8, "n_ctx_per_slot": 2048}}
    return {
        "name": "align",
        "runs_dir": "runs",
        "seed": args.seed,
        "taxonomy": "alert",
        "models": {
            "generator": {**smol, "config": {"temperature": 0.8, "max_tokens": 256}},
            "aligned": {**smol, "config": {"temperature": 0.7, "max_tokens": 128}},
            "unaligned": {**smol, "config": {"temperature": 0.9, "max_tokens": 128}},
        },
        "stages": {
            "expand": {"depth": 1, "breadth": 3, "max_nodes_per_round": 8},
            "sample": {"n_samples": args.samples, "formats": ["all"]},
            "raw_text": {"attempts": 3},
            "extract": {"queries_per_text": 2},
            "evolve": {"rounds": 1},
            "dedup": {"exact": True, "minhash": True, "minhash_threshold": 0.7},
            "attack": {"per_prompt": 1, "compose": 1, "include_plain": True},
            "responses": {
                "n_samples": 1,
                "best_of": 2,
                # the safety system prompt is the default; SmolLM2-135M ignores it, so (as
                # in the quickstart) its chosen answers open with an explicit refusal
                "prefill": "I can't help with that, because",
                "rejected_from": "unaligned",
            },
            "judge": {"judge": "refusal"},
            # benign look-alikes (helpful chosen, refusal rejected); XSTest, an evaluate
            # prompt set, is excluded from them (contrast.exclude_evaluate)
            "contrast": {"share": args.contrast},
        },
        "train": {  # unset fields: the recipe of the model's size class (settings/recipes.py)
            "method": args.method,
            "heldout_fraction": 0.2,
            **({"preset": args.preset} if args.preset else {}),
            **({"epochs": args.epochs} if args.epochs is not None else {}),
            **({"learning_rate": args.learning_rate} if args.learning_rate else {}),
        },
        "align": {
            "config": {"temperature": 0.0, "max_tokens": args.max_tokens},
            "max_batch_size": 32,
            "rounds": args.rounds,
        },
        "evaluate": {
            "prompts": [
                {"path": str(DATA / "advbench" / "harmful_behaviors.csv"), "limit": args.advbench},
                {"path": str(DATA / "xstest" / "xstest_prompts.csv"), "loader": "xstest"},
            ],
            "judge": "refusal",
        },
    }


def rate(row: dict[str, Any], name: str) -> str:
    if row.get(name) is None:
        return "-"
    low, high = row[name + "_low"], row[name + "_high"]
    return f"{100 * row[name]:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/sagert-align-bench"))
    p.add_argument("--method", choices=["simpo", "dpo"], default="simpo")
    p.add_argument("--samples", type=int, default=40, help="stages.sample.n_samples")
    p.add_argument("--advbench", type=int, default=100, help="AdvBench behaviours evaluated")
    p.add_argument("--max-tokens", type=int, default=64, help="answer length when evaluating")
    p.add_argument("--epochs", type=float, default=None, help="default: the recipe's")
    p.add_argument("--learning-rate", type=float, default=None, help="default: the recipe's")
    p.add_argument("--preset", help="a named recipe (sage-simpo, small-simpo, small-dpo)")
    p.add_argument("--judge2", default="refusal_semantic", help="judges the answers again")
    p.add_argument("--contrast", type=float, default=0.3, help="contrast.share (0: none)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--rounds", type=int, default=1, help="align.rounds (Egida rounds)")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / "align.yaml"
    path.write_text(yaml.safe_dump(config(args), sort_keys=False), encoding="utf-8")
    start = time.perf_counter()
    proc = subprocess.run([*SAGERT, "align", str(path)], cwd=args.workdir)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.returncode)
    run_dir = args.workdir / "runs" / "align"
    summary = json.loads((run_dir / "summary.json").read_text())
    trained = json.loads((run_dir / "train" / args.method / "train_result.json").read_text())
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    print(
        f"\nwall {wall / 60:.1f} min; {trained['train_pairs']} training pairs, "
        f"{trained['heldout_pairs']} held out; {trained['steps']} steps, "
        f"train loss {trained['train_loss']:.4f}"
    )
    print("seconds per stage:", {k: round(v.get("seconds", 0), 1) for k, v in stages.items()})
    print(
        f"\n{'source':10} {'target':7} {'judged':>6} {'ASR [95% CI]':>24} "
        f"{'benign':>6} {'over-refusal [95% CI]':>24} errors"
    )
    for row in summary["by"]["source"]:
        print(
            f"{row['source']:10} {row['target']:7} {row['judged']:6} {rate(row, 'asr'):>24} "
            f"{row['benign_judged']:6} {rate(row, 'over_refusal'):>24} "
            f"{row['judge_errors'] + row['target_errors']}"
        )
    for point in summary.get("rounds", []):  # --rounds above 1: the per-round curve
        label = "base" if point["round"] is None else f"round {point['round']}"
        print(
            f"{label:8} {point['target']:10} ASR {rate(point, 'asr'):>24} "
            f"over-refusal {rate(point, 'over_refusal'):>24} pairs {point.get('pairs', '-')}"
        )
    # the second judge the issue asks for, on the same answers (no model asked)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import rejudge

    print()
    print(rejudge.table(rejudge.rates(run_dir / "results.csv", args.judge2), args.judge2))
    print(f"\nreport: {run_dir / 'report.html'}")


if __name__ == "__main__":
    main()
