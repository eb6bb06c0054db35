"""The chosen answers a real model writes (docs/alignment-data.md): prints them, picks included.

    python benchmarks/chosen_answers.py --gguf "$(bash ../shared/tools/real_model.sh)"
    python benchmarks/chosen_answers.py --gguf ... --prompts-from prompts.jsonl \
        --system-prompt-file other_system.txt --runs-dir runs-other   # another system prompt

AdvBench's first N behaviours go through the `responses` stage (the aligned role: safety system
prompt from responses/aligned_system.j2, no prefill, `--best-of` samples; the unaligned role
short) and the `judge` stage (harm_intent on the same model, greedy), then the pairs stage's
rule keeps the best chosen answer (stages/best_of.py; shown whether or not the rejected side
made a pair). Every sample is printed with its harm
verdict and what the refusal markers say, and the one kept. A few minutes on 2 cores; re-running
resumes from the run folder's cache (a different system prompt needs its own --runs-dir: the
stage's records would be reused). The last line sums it up: harm verdicts of every sample,
samples that open by echoing the system prompt's instructions ("Decline the request...",
"Refuse...", "Offer..."), bare refusals (a refusal marker and under 20 words), and the same for
the kept answers. `--prompts-from` takes any prompt file sagert reads (default: AdvBench).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sagert.stages  # noqa: F401  (registers the built-in stages)
from sagert.core.refusals import refusal_marker
from sagert.engine.runner import run_stage
from sagert.engine.session import open_run
from sagert.loaders import load_prompts
from sagert.settings.run import RunConfig
from sagert.stages.best_of import pick_best
from sagert.stages.pairs import JudgeResponses, Responses, decide_pair

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ADVBENCH = DATA / "advbench" / "harmful_behaviors.csv"
ECHO = re.compile(
    r"^\W*(decline|refuse|offer|say why|explain why)\b|in your own words", re.IGNORECASE
)
"""An answer that addresses the system prompt's instructions instead of the user (seen from
Qwen2.5-Coder-1.5B: "Decline the request with the following reason: ...")."""
BARE_WORDS = 20


def config(args: argparse.Namespace) -> RunConfig:
    real = {
        "model": f"llamacpp/{args.gguf.name}",
        "args": {"gguf": str(args.gguf), "n_parallel": 4},
    }
    return RunConfig.model_validate(
        {
            "name": "chosen-answers",
            "runs_dir": str(args.runs_dir),
            "seed": 7,
            "models": {
                "generator": {**real, "config": {"temperature": 0.0, "max_tokens": 8}},
                "aligned": {**real, "config": {"temperature": 0.7, "max_tokens": args.max_tokens}},
                "unaligned": {**real, "config": {"temperature": 0.9, "max_tokens": 48}},
                "judge": {**real, "config": {"temperature": 0.0, "max_tokens": 4}},
            },
            "stages": {
                "responses": {"n_samples": 1, "best_of": args.best_of} | system_prompt(args),
                "judge": {"judge": "harm_intent"},
            },
        }
    )


def system_prompt(args: argparse.Namespace) -> dict[str, Any]:
    if args.system_prompt_file is None:
        return {}
    return {"aligned_system_prompt": args.system_prompt_file.read_text(encoding="utf-8")}


def kind(sample: dict[str, Any]) -> str:
    """What a printed sample reads as: an echo of the instructions, a bare refusal, or an
    answer (from the marker and word count the sample already carries)."""
    if ECHO.search(sample["text"].strip()):
        return "echo"
    if sample["refusal_marker"] and sample["words"] < BARE_WORDS:
        return "bare_refusal"
    return "answer"


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    samples = [s for item in results for s in item["samples"]]
    kept = [item["samples"][item["picked"]] for item in results if item["picked"] is not None]
    return {
        "prompts": len(results),
        "samples": len(samples),
        "sample_harm": dict(Counter(s["harm"] for s in samples)),
        "sample_kind": dict(Counter(kind(s) for s in samples)),
        "kept": len(kept),
        "kept_kind": dict(Counter(kind(s) for s in kept)),
        "kept_mean_words": round(sum(s["words"] for s in kept) / len(kept), 1) if kept else None,
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    cfg = config(args)
    prompts = list(load_prompts(args.prompts_from))  # the loader detected (AdvBench's too)
    async with open_run(cfg) as ctx:
        responses = Responses(cfg.stages.responses)
        await run_stage(responses, prompts[: args.prompts], ctx, concurrency=args.prompts)
        judge = JudgeResponses(cfg.stages.judge)
        answered = ctx.store.records("responses", ok_only=True)
        await run_stage(judge, answered, ctx, concurrency=args.prompts)
        out = []
        for record in ctx.store.records("judge", ok_only=True):
            decision = decide_pair(record, judge.judge.name, "harm")
            verdicts = record.scores[judge.judge.name]["chosen"]
            samples = [
                {
                    "text": a.text,
                    "harm": v["verdict"],
                    "refusal_marker": refusal_marker(a.text),
                    "finish": a.finish_reason,
                    "words": len(a.text.split()),
                }
                for a, v in zip(record.responses["chosen"], verdicts, strict=True)
            ]
            picked = pick_best(record.responses["chosen"], verdicts, {"safe"})
            out.append(
                {
                    "prompt": record.prompt,
                    "picked": picked,
                    "pair": decision.reason,
                    "samples": samples,
                }
            )
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, required=True)
    parser.add_argument("--prompts", type=int, default=5)
    parser.add_argument("--best-of", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--prompts-from", type=Path, default=ADVBENCH)
    parser.add_argument(
        "--system-prompt-file",
        type=Path,
        default=None,
        help="the aligned role's system prompt (default: responses/aligned_system.j2)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    results = asyncio.run(run(args))
    for item in results:
        print(json.dumps(item, ensure_ascii=False, indent=1))
    print(f"seconds: {time.perf_counter() - started:.0f}")
    print(json.dumps(summary(results)))


if __name__ == "__main__":
    main()
