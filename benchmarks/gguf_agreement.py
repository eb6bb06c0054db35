"""Does a model written back to GGUF answer as it did in transformers? (docs/evaluation.md)

    python benchmarks/gguf_agreement.py                    # a perturbed SmolLM2 (noise 1%)
    python benchmarks/gguf_agreement.py --folder runs/x/train/simpo/final   # a trained one

1. Round trip of the unmodified embedded GGUF: -> transformers folder -> GGUF (base types and
   f16); greedy llama.cpp answers against the original's.
2. A changed model (a trained folder, or the base with Gaussian noise of `--noise` times each
   tensor's std): llama.cpp greedy answers from its f16 GGUF against the `transformers`
   provider's (fp32) greedy answers: exact match of the whole answer, and per prompt the
   first token (of the answer, in the model's tokenizer) where the two differ.
3. Throughput of both engines on the changed model (`--n` prompts, `--tokens` new tokens).
Prints numbers only. Needs `sagert[train]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "How do I bake bread at home?",
    "Explain photosynthesis to a child.",
    "Give me three tips for a job interview.",
    "What is 17 times 23?",
    "How can I pick a lock without a key?",
    "Summarise the plot of Romeo and Juliet.",
    "Why is the sky blue?",
    "Write a short apology email to a colleague.",
    "What are the health benefits of walking?",
    "How do vaccines work?",
    "Tell me a joke about computers.",
    "How do I make a phishing website?",
    "What is the difference between a virus and a bacterium?",
    "Describe a sunset in two sentences.",
    "How should I store fresh herbs?",
    "What is machine learning?",
    "List four planets of the solar system.",
    "How do I get rid of a wasp nest safely?",
]


def provider(model: str, args: dict[str, Any]) -> Any:
    import sagert.models.providers  # noqa: F401  (registers the providers)
    from sagert.models.provider import providers
    from sagert.models.spec import ModelSpec

    spec = ModelSpec(model=model, args=args)
    return providers.get(spec.provider)(spec)


async def answers(p: Any, prompts: list[str], tokens: int) -> tuple[list[str], float, int]:
    from sagert.models.types import GenerateConfig, Message

    config = GenerateConfig(temperature=0.0, max_tokens=tokens)
    await p.generate(
        [Message(role="user", content="Hi")], config.model_copy(update={"max_tokens": 1})
    )
    start = time.perf_counter()
    outs = await asyncio.gather(
        *(p.generate([Message(role="user", content=q)], config) for q in prompts)
    )
    seconds = time.perf_counter() - start
    await p.aclose()
    return [o.text for o in outs], seconds, sum(o.usage.completion_tokens for o in outs)


def llama(
    gguf: Path, prompts: list[str], tokens: int, threads: int
) -> tuple[list[str], float, int]:
    args = {"gguf": str(gguf), "n_threads": threads}
    return asyncio.run(answers(provider(f"llamacpp/{gguf.name}", args), prompts, tokens))


def hf(folder: Path, prompts: list[str], tokens: int, threads: int) -> tuple[list[str], float, int]:
    args = {"device": "cpu", "max_batch_size": 16, "threads": threads}
    return asyncio.run(answers(provider(f"transformers/{folder}", args), prompts, tokens))


def same(a: list[str], b: list[str]) -> str:
    return f"{sum(x == y for x, y in zip(a, b, strict=True))}/{len(a)}"


def divergence(folder: Path, a: list[str], b: list[str]) -> list[list[int] | None]:
    """Per prompt: None when both answers are one text, else [first differing token, tokens]."""
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    out: list[list[int] | None] = []
    for x, y in zip(a, b, strict=True):
        if x == y:
            out.append(None)
            continue
        ids_x = tok(x, add_special_tokens=False)["input_ids"]
        ids_y = tok(y, add_special_tokens=False)["input_ids"]
        first = next(
            (i for i, (p, q) in enumerate(zip(ids_x, ids_y, strict=False)) if p != q),
            min(len(ids_x), len(ids_y)),
        )
        out.append([first, max(len(ids_x), len(ids_y))])
    return out


def perturbed(base: Path, out: Path, noise: float, seed: int) -> Path:
    import shutil

    import numpy as np
    from safetensors.numpy import load_file, save_file

    if (out / "config.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for f in base.iterdir():
        if f.suffix != ".safetensors":
            shutil.copy(f, out / f.name)
    rng = np.random.default_rng(seed)
    for f in base.glob("*.safetensors"):
        tensors = load_file(str(f))
        changed = {
            k: (v + rng.normal(0, noise * float(v.std()), v.shape)).astype(v.dtype)
            for k, v in tensors.items()
        }
        save_file(changed, str(out / f.name), metadata={"format": "pt"})
    return out


def main() -> None:
    from sagert.models.embedded import embedded_gguf_path
    from sagert.training.gguf import gguf_to_folder
    from sagert.training.to_gguf import folder_to_gguf

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("runs/gguf-agreement"))
    ap.add_argument("--folder", type=Path, help="a trained model folder (default: perturbed)")
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--check", type=int, default=10, help="prompts for the agreement checks")
    ap.add_argument("--check-tokens", type=int, default=32)
    ap.add_argument("--n", type=int, default=20, help="prompts for the throughput")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of each engine")
    a = ap.parse_args()
    base = embedded_gguf_path()
    folder = gguf_to_folder(base, a.work / "base-folder")
    check = PROMPTS[: a.check]
    result: dict[str, Any] = {}
    original = llama(base, check, a.check_tokens, a.threads)[0]
    for types in ("base", "f16"):
        rt = folder_to_gguf(folder, base, a.work / f"roundtrip-{types}.gguf", types)
        result[f"roundtrip_{types}_vs_base_gguf"] = same(
            original, llama(rt, check, a.check_tokens, a.threads)[0]
        )
    changed = a.folder or perturbed(folder, a.work / f"perturbed-{a.noise}", a.noise, 0)
    start = time.perf_counter()
    out = folder_to_gguf(changed, base, a.work / "changed.gguf")
    result["convert_seconds"] = round(time.perf_counter() - start, 1)
    via_llama = llama(out, check, a.check_tokens, a.threads)[0]
    via_hf = hf(changed, check, a.check_tokens, a.threads)[0]
    result["changed_llamacpp_vs_transformers"] = same(via_llama, via_hf)
    result["first_divergence_token"] = divergence(changed, via_llama, via_hf)
    result["changed_differs_from_base"] = (
        f"{sum(x != y for x, y in zip(via_llama, original, strict=True))}/{len(check)}"
    )
    result["mismatches"] = [[x, y] for x, y in zip(via_llama, via_hf, strict=True) if x != y][:3]
    result["changed_tokens"] = a.check_tokens
    for name, run in (
        ("llamacpp_f16", lambda: llama(out, PROMPTS[: a.n], a.tokens, a.threads)),
        ("transformers_fp32", lambda: hf(changed, PROMPTS[: a.n], a.tokens, a.threads)),
    ):
        _, seconds, tokens = run()
        result[name] = {
            "seconds": round(seconds, 1),
            "tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
