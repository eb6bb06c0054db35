"""ALERT expanded at SAGE's scale by a real model: leaves, topics, near-duplicates, time, calls.

    python benchmarks/taxonomy_scale.py [--breadth 11 8] [--threads 2]
    python benchmarks/taxonomy_scale.py --regrow-topics --breadth 7   # topics again, leaves kept

SAGE grows ALERT's 32 sub-categories into about 279 leaves and 1,500+ topics. This runs
`sagert taxonomy expand` on ALERT with the real local model (Qwen2.5-Coder-1.5B-Instruct GGUF
from ../shared/tools/real_model.sh, or --gguf) as generator, two rounds (`breadth: [11, 8]`), with
near-duplicate pruning of siblings and cousins after each round (all-MiniLM cosine), and writes
the tree to benchmarks/data/alert_expanded.yaml, the taxonomy `benchmarks/quality.py` starts from.
Prints the counts per level, the pruned nodes (siblings, cousins), the near-duplicate rate among
the surviving siblings (pairs at cosine >= the threshold, which should be 0 after pruning) and
among the unpruned ones, the generator's calls, tokens, refusals and wall time; writes
taxonomy_scale.json next to the run. `--regrow-topics` starts from --out's tree with its topic
level removed and grows one round of topics (the leaves as they are, one call per leaf).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402

from sagert.diversity.embeddings import load_encoder  # noqa: E402
from sagert.settings.run import load_config  # noqa: E402
from sagert.stages.expand import apply_expansions  # noqa: E402
from sagert.store.run import RunStore  # noqa: E402
from sagert.taxonomy import Taxonomy, TaxonomyNode, load_taxonomy  # noqa: E402
from sagert.workflows import taxonomy as workflow  # noqa: E402

OUT = REPO / "benchmarks" / "data" / "alert_expanded.yaml"


def real_model() -> str:
    script = REPO.parent / "shared" / "tools" / "real_model.sh"
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def config(args: argparse.Namespace, gguf: str) -> dict[str, Any]:
    qwen_args = {"gguf": gguf, "n_parallel": args.slots, "n_ctx_per_slot": 2048}
    return {
        "name": "alert-scale-topics" if args.regrow_topics else "alert-scale",
        "runs_dir": str(args.workdir / "runs"),
        "seed": args.seed,
        "taxonomy": str(args.start),
        "models": {
            "generator": {
                "model": "llamacpp/qwen2.5-coder-1.5b",
                "args": qwen_args | {"n_threads": args.threads},
                "timeout": 3000,
                "config": {"temperature": 0.7, "max_tokens": 600},
            }
        },
        "stages": {
            "expand": {
                "depth": len(args.breadth),
                "breadth": args.breadth,
                "near_duplicates": "embedding",
                "embedding_threshold": args.threshold,
                "concurrency": args.slots * 2,
            }
        },
    }


def without_topics(tree_file: Path, out: Path) -> Path:
    """The tree in `tree_file` with its topic level cut off, written to `out`."""
    import yaml

    data = yaml.safe_load(tree_file.read_text(encoding="utf-8"))
    for macro in data["nodes"]:
        for sub in macro.get("children") or []:
            for leaf in sub.get("children") or []:
                leaf.pop("children", None)
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def leaf_depth(tree: Taxonomy) -> int:
    """How far below the roots the tree's deepest nodes are (ALERT: 1, its sub-categories)."""

    def depth(nodes: list[TaxonomyNode]) -> int:
        return max((1 + depth(n.children) for n in nodes if n.children), default=0)

    return depth(tree.roots)


def sibling_groups(tree: Taxonomy, level: int) -> list[list[str]]:
    """Each node's children's names (what the pruning compares), for the nodes `level` below
    the roots (0: the roots)."""
    groups: list[list[str]] = []

    def walk(nodes: list[TaxonomyNode], depth: int) -> None:
        for node in nodes:
            if depth == level and node.children:
                groups.append([c.name for c in node.children])
            walk(node.children, depth + 1)

    walk(tree.roots, 0)
    return groups


def near_duplicate_rate(groups: list[list[str]], encoder: Any, threshold: float) -> dict[str, Any]:
    """Sibling pairs at cosine >= threshold, over all sibling pairs (all-MiniLM, unit vectors)."""
    pairs = close = 0
    for names in groups:
        if len(names) < 2:
            continue
        vectors = np.asarray(encoder(names))
        for i, j in combinations(range(len(names)), 2):
            pairs += 1
            close += float(vectors[i] @ vectors[j]) >= threshold
    return {"sibling_pairs": pairs, "near_duplicates": close, "rate": close / pairs if pairs else 0}


def calls_and_tokens(store: RunStore) -> dict[str, Any]:
    entry = store.manifest().stages["expand"]
    stats = next(iter((entry.calls_total or entry.calls).values()), {})
    records = list(store.records("expand"))
    return {
        "calls": stats.get("calls"),
        "completion_tokens": stats.get("completion_tokens"),
        "prompt_tokens": stats.get("prompt_tokens"),
        "records": len(records),
        "failed": sum(r.status == "failed" for r in records),
        "asked_again_after_refusal": sum(bool(r.meta.get("refusals")) for r in records),
        "near_duplicates_pruned": {
            k: v
            for k, v in (entry.model_extra or {}).get("near_duplicates", {}).items()
            if k != "nodes"
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/sagert-taxonomy-bench"))
    p.add_argument("--breadth", type=int, nargs="+", default=[11, 8])
    p.add_argument("--threshold", type=float, default=0.9, help="embedding_threshold")
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--gguf", default=None, help="default: ../shared/tools/real_model.sh")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument(
        "--regrow-topics",
        action="store_true",
        help="start from --out's tree without its topics (one round: give --breadth N)",
    )
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.start = "alert"
    if args.regrow_topics:
        args.start = without_topics(args.out, args.workdir / "alert_leaves.yaml")
    import yaml

    path = args.workdir / "alert-scale.yaml"
    path.write_text(yaml.safe_dump(config(args, args.gguf or real_model())), encoding="utf-8")
    cfg = load_config(path)
    start = time.perf_counter()
    tree, _ = workflow.expand(cfg, out=args.out)
    wall = time.perf_counter() - start

    store = RunStore(cfg.run_dir, read_only=True)
    start_tree = load_taxonomy(str(args.start))
    unpruned = apply_expansions(start_tree, list(store.records("expand", ok_only=True)))
    encoder = load_encoder()
    # Round r adds children to the nodes `leaf_depth + r` below the roots (ALERT: 1 + r).
    first = leaf_depth(start_tree)
    rates = {
        f"round_{r + 1}": {
            "kept": near_duplicate_rate(sibling_groups(tree, first + r), encoder, args.threshold),
            "unpruned": near_duplicate_rate(
                sibling_groups(unpruned, first + r), encoder, args.threshold
            ),
        }
        for r in range(len(args.breadth))
    }
    result = {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "wall_minutes": round(wall / 60, 1),
        "counts": tree.counts(),
        "unpruned_counts": unpruned.counts(),
        **calls_and_tokens(store),
        "sibling_near_duplicates": rates,
    }
    out = args.workdir / "taxonomy_scale.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(f"\n{args.out}\n{out}")


if __name__ == "__main__":
    main()
