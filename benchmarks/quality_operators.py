"""Does each evolution operator and LLM attack style keep its seed's harmful intent?

    python benchmarks/quality_operators.py [--seeds 8] [--only deepen,roleplay]

Every operator (and every LLM attack style) rewrites the same N AdvBench behaviours (harmful
seeds nobody on this project wrote, ../shared/data/advbench) with the real local model
(Qwen2.5-Coder-1.5B-Instruct, ../shared/tools/real_model.sh); the prompt gate (harm_intent on
the same model) then asks of each rewrite whether it still requests harm and whether it still
asks what its seed asked. One run per operator, through the real stages (`evolve` +
`gate_evolve`, or `attack` + `gate_attack` with that style only), so the templates, cleaning,
retries and the second framing are the product's. Prints, per operator: rewrites made, rewrite
failures (with why), harmful, not harmful, lost intent, judge errors, the harmful-prompt rate
with its Wilson 95% interval, and the generator's refusals; writes operators.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

import sagert.stages  # noqa: E402,F401  (registers the stages)
from quality import real_model  # noqa: E402
from sagert.engine.plan import execute, plan  # noqa: E402
from sagert.engine.progress import no_progress  # noqa: E402
from sagert.engine.session import open_run  # noqa: E402
from sagert.loaders.base import LoaderOptions, loaders  # noqa: E402
from sagert.results.gate import gate_figures  # noqa: E402
from sagert.settings.run import RunConfig  # noqa: E402
from sagert.store.records import Record  # noqa: E402
from sagert.store.run import RunStore  # noqa: E402

ADVBENCH = REPO.parent / "shared" / "data" / "advbench" / "harmful_behaviors.csv"
OPERATORS = ["deepen", "concretize", "add_constraints", "add_context", "multi_step", "breadth"]
LLM_STYLES = ["roleplay", "hypothetical", "authority", "past_tense", "academic"]


def seeds(n: int, seed: int) -> list[Record]:
    rows = list(loaders.get("advbench")(ADVBENCH, LoaderOptions(name="advbench")))
    random.Random(seed).shuffle(rows)
    return rows[:n]


def run_config(args: argparse.Namespace, gguf: str, name: str, kind: str) -> RunConfig:
    qwen = {
        "model": "llamacpp/qwen2.5-coder-1.5b",
        "timeout": 3000,
        "args": {
            "gguf": gguf,
            "n_parallel": args.slots,
            "n_ctx_per_slot": 3072,
            "n_threads": args.threads,
        },
    }
    stages: dict[str, Any] = {"gate": {"judge": "harm_intent"}}
    if kind == "evolution":
        stages["evolve"] = {"rounds": 1, "operators": [name]}
    else:
        stages["attack"] = {"per_prompt": 1, "styles": [name], "include_plain": False}
    return RunConfig.model_validate(
        {
            "name": f"op-{name}",
            "runs_dir": str(args.workdir / "runs"),
            "seed": args.seed,
            "models": {
                "generator": {**qwen, "config": {"temperature": 0.8, "max_tokens": 200}},
                "judge": qwen,
            },
            "stages": stages,
        }
    )


async def measure(cfg: RunConfig, kind: str, inputs: list[Record]) -> None:
    names = ("evolve", "gate_evolve") if kind == "evolution" else ("attack", "gate_attack")
    steps = plan(cfg, names, source=("prompt", "seed_prompt", "taxonomy"))
    async with open_run(cfg) as ctx:
        await execute(ctx, steps, iter(inputs), len(inputs), no_progress)


def figures(cfg: RunConfig, kind: str, wall: float) -> dict[str, Any]:
    store = RunStore(cfg.run_dir, read_only=True)
    stage, gate = ("evolve", "gate_evolve") if kind == "evolution" else ("attack", "gate_attack")
    rewrites = list(store.records(stage))
    failed = Counter(
        (r.failure.reason.split("(last: ")[-1].rstrip(")") if r.failure else "?")
        for r in rewrites
        if r.status == "failed"
    )
    refused = sum(
        1 for r in rewrites if r.status == "ok" and any(s.args.get("refusals") for s in r.lineage)
    )
    g = gate_figures(store.records(gate)) if store.paths.has_records(gate) else {}
    manifest = store.manifest()
    tokens = manifest.completion_tokens()
    return {
        "kind": kind,
        "rewrites_ok": sum(r.status == "ok" for r in rewrites),
        "rewrite_failures": dict(failed),
        "ok_after_refusal": refused,
        "harmful": g.get("harmful"),
        "not_harmful": g.get("not_harmful"),
        "lost_intent": g.get("lost_intent"),
        "judge_errors": g.get("errors"),
        "harmful_rate": g.get("harmful_rate"),
        "harmful_rate_low": g.get("harmful_rate_low"),
        "harmful_rate_high": g.get("harmful_rate_high"),
        "completion_tokens": tokens,
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/sagert-quality-operators"))
    p.add_argument("--seeds", type=int, default=8, help="AdvBench behaviours rewritten")
    p.add_argument("--only", default="", help="comma-separated operators / styles")
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--threads", type=int, default=1, help="llama.cpp threads (see quality.py)")
    p.add_argument("--gguf", default=None)
    p.add_argument("--seed", type=int, default=1234)
    args = p.parse_args()
    gguf = args.gguf or real_model()
    inputs = seeds(args.seeds, args.seed)
    wanted = [*((o, "evolution") for o in OPERATORS), *((s, "attack") for s in LLM_STYLES)]
    if args.only:
        keep = set(args.only.split(","))
        wanted = [w for w in wanted if w[0] in keep]
    out: dict[str, Any] = {}
    for name, kind in wanted:
        cfg = run_config(args, gguf, name, kind)
        start = time.perf_counter()
        asyncio.run(measure(cfg, kind, inputs))
        out[name] = figures(cfg, kind, time.perf_counter() - start)
        row = out[name]
        rate = row["harmful_rate"]
        shown = "-" if rate is None else f"{100 * rate:.0f}%"
        print(
            f"{name:16} ok {row['rewrites_ok']}/{len(inputs)}  harmful {row['harmful']}  "
            f"not harmful {row['not_harmful']}  lost intent {row['lost_intent']}  "
            f"errors {row['judge_errors']}  rate {shown}  failures {row['rewrite_failures']}  "
            f"({row['wall_seconds']:.0f} s)",
            flush=True,
        )
    path = args.workdir / "operators.json"
    path.write_text(json.dumps({"seeds": [r.prompt for r in inputs], **out}, indent=2))
    print(path)


if __name__ == "__main__":
    main()
