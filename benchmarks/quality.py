"""Data quality with a real model: sagert against the naive baseline on the same call budget.

    python benchmarks/quality.py [--samples 6] [--taxonomy benchmarks/data/alert_expanded.yaml]

The real local model (Qwen2.5-Coder-1.5B-Instruct GGUF from ../shared/tools/real_model.sh, or
--gguf) is the generator, the aligned role and the judge (the prompt gate's harm_intent and the
pairs' harm judge); the embedded SmolLM2-135M is the unaligned role. sagert runs its pipeline
with the three prompt gates (extract, evolve, attack), Instruct-SkillMix factor pairs (format x
persona x tactic x region, k = 2) and every evolution operator; the baseline (one fixed
instruction per leaf, `sagert baseline --pairs`) gets the generator calls sagert's generation
stages spent, and its prompts go through the same gate, answers and judge. Prints one table and
writes quality.json (numbers only; docs/quality.md records them).

Figures, for each run's harmful prompts (those its last gate passed): harmful-prompt rate at
each gate (Wilson 95%), distinct leaf categories covered (macro/sub/leaf), self-BLEU and
all-MiniLM embedding dispersion, validated pairs, pairs and harmful prompts per 1,000 generated
tokens; for sagert also the rate per evolution operator and attack style, and the generator's
refusals (and how many a second framing got past).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from sagert.diversity.embeddings import embeddings_available, load_encoder  # noqa: E402
from sagert.diversity.metrics import diversity_report  # noqa: E402
from sagert.settings.run import load_config  # noqa: E402
from sagert.store.records import Record  # noqa: E402
from sagert.store.run import RunStore  # noqa: E402
from sagert.taxonomy import load_taxonomy  # noqa: E402
from sagert.taxonomy.walk import walk_leaves  # noqa: E402
from sagert.workflows import baseline, generate  # noqa: E402

EXPANDED = REPO / "benchmarks" / "data" / "alert_expanded.yaml"
REGIONS = ["the United States", "India", "Brazil", "Nigeria", "Germany", "Indonesia"]
OPERATORS = ["deepen", "concretize", "add_constraints", "add_context", "multi_step", "breadth"]
STYLES = [
    "roleplay",
    "hypothetical",
    "authority",
    "past_tense",
    "academic",
    "refusal_suppression",
    "prefix_injection",
]
PIPELINE = [
    "expand",
    "sample",
    "raw_text",
    "extract",
    "gate_extract",
    "evolve",
    "gate_evolve",
    "dedup",
    "attack",
    "gate_attack",
    "responses",
    "judge",
    "pairs",
]
GATES = ("gate_extract", "gate_evolve", "gate_attack")
GENERATION = ("expand", "raw_text", "extract", "evolve", "attack")
"""The stages whose generator calls the baseline gets (the gates' calls are the measurement)."""


def real_model() -> str:
    script = REPO.parent / "shared" / "tools" / "real_model.sh"
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def config(args: argparse.Namespace, gguf: str) -> dict[str, Any]:
    qwen_args = {
        "gguf": gguf,
        "n_parallel": args.slots,
        "n_ctx_per_slot": 3072,
        "n_threads": args.threads,
    }
    # A long timeout: on a busy 2-core machine one answer can take minutes.
    qwen = {"model": "llamacpp/qwen2.5-coder-1.5b", "args": qwen_args, "timeout": 3000}
    taxonomy = str(args.taxonomy) if args.taxonomy.is_file() else "alert"
    return {
        "name": "quality",
        "runs_dir": str(args.workdir / "runs"),
        "seed": args.seed,
        "taxonomy": taxonomy,
        "pipeline": PIPELINE,
        "models": {
            "generator": {**qwen, "config": {"temperature": 0.8, "max_tokens": 512}},
            "aligned": {**qwen, "config": {"temperature": 0.7, "max_tokens": args.answer_tokens}},
            "judge": qwen,
            "unaligned": {
                "model": "llamacpp/smollm2",
                "timeout": 3000,
                "args": {"n_parallel": args.slots, "n_threads": args.threads},
                "config": {"temperature": 0.9, "max_tokens": args.answer_tokens},
            },
        },
        "stages": {
            "expand": {"depth": 0 if args.taxonomy.is_file() else 1, "breadth": 3},
            "sample": {
                "n_samples": args.samples,
                "factors": ["format", "persona", "tactic", "region"],
                "factors_per_sample": 2,
                "regions": REGIONS,
            },
            "extract": {"queries_per_text": args.queries},
            "gate": {"judge": "harm_intent"},
            "evolve": {"rounds": 1, "operators": OPERATORS},
            "attack": {"per_prompt": 1, "styles": STYLES, "include_plain": True},
            "responses": {"n_samples": 1},
            "judge": {"judge": "harm_intent"},
        },
    }


def generator_calls(run_dir: Path, stages: tuple[str, ...] = GENERATION) -> int:
    """Generator calls of the named stages over every run of each (`calls_total`: the
    manifest's `generator_calls` reads each stage's last run only, one round of expand)."""
    total = 0
    for name, entry in RunStore(run_dir, read_only=True).manifest().stages.items():
        if name in stages:
            for stats in (entry.calls_total or entry.calls).values():
                if "generator" in stats.get("roles", []):
                    total += int(stats.get("calls", 0))
    return total


def harmful_prompts(store: RunStore) -> tuple[str, list[Record]]:
    """The run's prompt set: the last gate's passed prompts (the baseline's own gate)."""
    for stage in (*reversed(GATES), "baseline"):
        if store.paths.has_records(stage):
            return stage, list(store.records(stage, ok_only=True))
    return "", []


def leaf_key(record: Record) -> str:
    t = record.taxonomy
    return "/".join(k for k in (t.macro, t.sub, t.leaf) if k)


def figures(run_dir: Path, encoder: Any, leaves_total: int, wall: float) -> dict[str, Any]:
    store = RunStore(run_dir, read_only=True)
    manifest = store.manifest()
    stage, prompts = harmful_prompts(store)
    report = diversity_report(prompts, source=run_dir.name, encoder=encoder)
    # The plain requests alone: an attacked variant shares most words with its plain prompt,
    # which the baseline (no attacks) never pays for in self-BLEU.
    plain = [r for r in prompts if r.meta.get("attack") in (None, "none")]
    plain_report = diversity_report(plain, source=run_dir.name, encoder=encoder)
    calls = Counter[str]()
    for entry in manifest.stages.values():
        for model, stats in (entry.calls_total or entry.calls).items():
            calls[model] += int(stats.get("calls", 0))
    gates = {
        name: entry.model_extra["gate"]
        for name, entry in manifest.stages.items()
        if entry.model_extra and isinstance(entry.model_extra.get("gate"), dict)
    }
    return {
        "wall_minutes": round(wall / 60, 1),
        "calls": dict(calls),
        "generator_calls": generator_calls(run_dir, (*GENERATION, "baseline")),
        "yields": manifest.yields,
        "prompt_stage": stage,
        "harmful_prompts": len(prompts),
        "gates": {
            name: {k: g.get(k) for k in ("judged", "harmful", "benign", "lost_intent", "errors")}
            | {"rate": _ci(g)}
            for name, g in gates.items()
        },
        "by_evolution": {
            k: _ci(v) for k, v in gates.get("gate_evolve", {}).get("by_evolution", {}).items()
        },
        "by_attack": {
            k: _ci(v) for k, v in gates.get("gate_attack", {}).get("by_attack", {}).items()
        },
        "leaves_covered": len({leaf_key(r) for r in prompts}),
        "leaves_total": leaves_total,
        "self_bleu": report.self_bleu,
        "embedding_dispersion": report.embedding_dispersion,
        "distinct_2": report.distinct_2,
        "plain_requests": len(plain),
        "plain_self_bleu": plain_report.self_bleu,
        "plain_embedding_dispersion": plain_report.embedding_dispersion,
        "refusals": refusals(store),
    }


def _ci(g: dict[str, Any]) -> str:
    if not g.get("judged"):
        return "-"
    return (
        f"{100 * g['harmful_rate']:.0f}% [{100 * g['harmful_rate_low']:.0f}-"
        f"{100 * g['harmful_rate_high']:.0f}] of {g['judged']}"
    )


def refusals(store: RunStore) -> dict[str, Any]:
    """The generator's refusals per stage: records asked again in the second framing, and
    the records that failed because every framing was refused."""
    out: dict[str, Any] = {}
    for stage in ("expand", "raw_text", "extract", "evolve", "attack", "baseline"):
        if not store.paths.has_records(stage):
            continue
        records = list(store.records(stage))
        reframed = sum(1 for r in records if r.status == "ok" and r.meta.get("refusals"))
        reframed += sum(
            1
            for r in records
            if r.status == "ok" and any(s.args.get("refusals") for s in r.lineage)
        )
        failed = Counter(
            "refused" if "refus" in r.failure.reason else r.failure.reason.split(" (")[0][:60]
            for r in records
            if r.status == "failed" and r.failure
        )
        out[stage] = {"records": len(records), "ok_after_refusal": reframed, "failed": dict(failed)}
    return out


def leaves_of(taxonomy: str) -> int:
    tree = load_taxonomy(taxonomy)
    return len({"/".join(f.keys[:3]) for f in walk_leaves(tree.model_dump(mode="json")["roots"])})


def table(rows: dict[str, dict[str, Any]]) -> str:
    def y(run: dict[str, Any], key: str) -> Any:
        return (run.get("yields") or {}).get(key)

    lines = ["| figure | sagert | baseline |", "|---|---|---|"]
    spec = [
        ("generator calls (generation stages)", lambda r: r["generator_calls"]),
        ("wall time, minutes", lambda r: r["wall_minutes"]),
        ("generated tokens", lambda r: y(r, "completion_tokens")),
        ("harmful prompts (last gate)", lambda r: r["harmful_prompts"]),
        (
            "harmful-prompt rate, first gate",
            lambda r: next(iter(r["gates"].values()), {}).get("rate"),
        ),
        ("harmful prompts per 1,000 tokens", lambda r: y(r, "harmful_prompts_per_1k_tokens")),
        ("distinct leaves covered", lambda r: f"{r['leaves_covered']} / {r['leaves_total']}"),
        ("self-BLEU (lower: more diverse)", lambda r: _f(r["self_bleu"], 1)),
        ("embedding dispersion (higher: more diverse)", lambda r: _f(r["embedding_dispersion"], 3)),
        ("plain requests (no attack style)", lambda r: r["plain_requests"]),
        ("self-BLEU, plain requests", lambda r: _f(r["plain_self_bleu"], 1)),
        ("embedding dispersion, plain requests", lambda r: _f(r["plain_embedding_dispersion"], 3)),
        ("validated pairs", lambda r: y(r, "pairs")),
        ("pairs per 1,000 generated tokens", lambda r: y(r, "pairs_per_1k_tokens")),
    ]
    for label, get in spec:
        lines.append(f"| {label} | {get(rows['sagert'])} | {get(rows['baseline'])} |")
    return "\n".join(lines)


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/sagert-quality-bench"))
    p.add_argument("--samples", type=int, default=6, help="stages.sample.n_samples")
    p.add_argument("--taxonomy", type=Path, default=EXPANDED, help="else ALERT, expanded here")
    p.add_argument("--answer-tokens", type=int, default=128)
    p.add_argument(
        "--queries",
        type=int,
        default=5,
        help="stages.extract.queries_per_text: requests per raw text (2 gave 5 prompts from"
        " 32 generator calls, measured)",
    )
    p.add_argument("--slots", type=int, default=4, help="llama.cpp parallel slots per model")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="llama.cpp threads per model: 1 on a shared machine (2 threads on 2 busy cores"
        " ran 5x slower, measured), the core count on an idle one",
    )
    p.add_argument("--gguf", default=None, help="default: ../shared/tools/real_model.sh")
    p.add_argument("--seed", type=int, default=1234)
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    import yaml

    path = args.workdir / "quality.yaml"
    data = config(args, args.gguf or real_model())
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    cfg = load_config(path)
    encoder = load_encoder() if embeddings_available() else None
    leaves_total = leaves_of(data["taxonomy"])

    start = time.perf_counter()
    generate.run(cfg)
    sagert_wall = time.perf_counter() - start
    start = time.perf_counter()
    base = baseline.run(cfg, calls=generator_calls(cfg.run_dir), pairs=True)
    base_wall = time.perf_counter() - start

    rows = {
        "sagert": figures(cfg.run_dir, encoder, leaves_total, sagert_wall),
        "baseline": figures(base.run_dir, encoder, leaves_total, base_wall),
    }
    result = {"settings": vars(args) | {"taxonomy": data["taxonomy"]}, **rows}
    out = args.workdir / "quality.json"
    out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print(table(rows))
    for name in ("by_evolution", "by_attack", "gates", "refusals"):
        print(f"\n{name}: {json.dumps(rows['sagert'][name], indent=1)}")
    print(f"\nbaseline refusals: {json.dumps(rows['baseline']['refusals'])}")
    print(f"\n{out}")


if __name__ == "__main__":
    main()
