"""What a run gave for what it cost: validated pairs and prompts per 1,000 generated tokens.

Cost is completion tokens, every role and model, from the manifest's per-stage counters summed
over every run of each stage (`calls_total`: a resumed run adds the calls it made, so a cache
hit costs nothing and a re-run does not zero the bill). Prompts are the run's prompt set (the
first of PROMPT_STAGES with records, or the baseline's own stage), counted against the tokens of
the stages that made them (all but the answering ones); when a prompt gate made that set, its
prompts are the harmful ones and the figure is harmful prompts per 1,000 tokens (prompts it
passed on unjudged, under `on_error: keep`, are counted apart, not as harmful). Pairs are the
kept pairs, against every token of the run but the contrast stages'; contrast pairs (benign
prompts that look harmful) against those stages' own tokens. Each gate's harmful-prompt rate
is carried beside.
"""

from __future__ import annotations

from typing import Any

from sagert.store.paths import PROMPT_STAGES
from sagert.store.run import RunStore

ANSWER_STAGES = ("responses", "judge", "pairs")
"""Stages that answer and judge prompts rather than make them."""
CONTRAST_STAGES = ("contrast_prompts", "contrast")
"""The contrast pairs' stages: their own prompts and answers, counted apart."""
PAIRS_STAGE = "pairs"
CONTRAST_STAGE = "contrast"
BASELINE_STAGE = "baseline"
GATE_FIELDS = ("judged", "harmful", "benign", "errors", "harmful_rate")
UNJUDGED = "unjudged"
"""Carried only when the gate's figures have it (manifests from before on_error: keep do not)."""


def per_1k(count: int, tokens: int) -> float | None:
    return round(count * 1000 / tokens, 3) if tokens else None


def run_yield(store: RunStore) -> dict[str, Any]:
    """The yield figures of a run folder (generation or baseline)."""
    manifest = store.manifest()
    tokens = manifest.completion_tokens()
    contrast_tokens = manifest.completion_tokens(CONTRAST_STAGES)
    harmful_tokens = tokens - contrast_tokens
    making = tuple(
        name for name in manifest.stages if name not in (*ANSWER_STAGES, *CONTRAST_STAGES)
    )
    prompt_tokens = manifest.completion_tokens(making)
    stage = next((s for s in (*PROMPT_STAGES, BASELINE_STAGE) if store.paths.has_records(s)), None)
    prompts = store.count(stage, ok_only=True) if stage else 0
    gated = bool(stage and stage.startswith("gate_"))
    ran_pairs = PAIRS_STAGE in manifest.stages or store.paths.has_records(PAIRS_STAGE)
    pairs = store.count(PAIRS_STAGE, ok_only=True) if ran_pairs else None
    ran_contrast = CONTRAST_STAGE in manifest.stages
    contrast = store.count(CONTRAST_STAGE, ok_only=True) if ran_contrast else None
    gates = {
        name: _gate_fields(entry.model_extra["gate"])
        for name, entry in manifest.stages.items()
        if entry.model_extra and isinstance(entry.model_extra.get("gate"), dict)
    }
    # Prompts a gate passed on unjudged (on_error: keep) are in its file but are not harmful.
    unjudged = int((gates.get(stage or "") or {}).get("unjudged") or 0) if gated else 0
    harmful = max(0, prompts - unjudged)
    return {
        "completion_tokens": tokens,
        "prompt_completion_tokens": prompt_tokens,
        "prompt_stage": stage,
        "prompts": prompts,
        "prompts_gated": gated,
        "prompts_per_1k_tokens": per_1k(prompts, prompt_tokens),
        "harmful_prompts_per_1k_tokens": per_1k(harmful, prompt_tokens) if gated else None,
        "unjudged_prompts": unjudged,
        "pairs": pairs,
        "pairs_per_1k_tokens": per_1k(pairs, harmful_tokens) if pairs is not None else None,
        "contrast_pairs": contrast,
        "contrast_completion_tokens": contrast_tokens,
        "contrast_pairs_per_1k_tokens": (
            per_1k(contrast, contrast_tokens) if contrast is not None else None
        ),
        "gates": gates,
    }


def _gate_fields(figures: dict[str, Any]) -> dict[str, Any]:
    picked = {k: figures.get(k) for k in GATE_FIELDS}
    return {**picked, UNJUDGED: figures[UNJUDGED]} if UNJUDGED in figures else picked


def yield_lines(data: dict[str, Any]) -> list[str]:
    """The yield in a few plain lines (the CLI's closing summary, the dataset card)."""
    if not data:
        return []
    out = [f"generated tokens: {data['completion_tokens']:,} (completion, every role and stage)"]
    if data.get("pairs") is not None:
        out.append(
            f"validated pairs: {data['pairs']:,} = {_num(data['pairs_per_1k_tokens'])}"
            " per 1,000 generated tokens"
        )
    if data.get("contrast_pairs") is not None:
        out.append(
            f"contrast pairs: {data['contrast_pairs']:,} ="
            f" {_num(data['contrast_pairs_per_1k_tokens'])} per 1,000 tokens of the contrast"
            f" stages ({data['contrast_completion_tokens']:,})"
        )
    kind = "harmful prompts (passed the gate)" if data.get("prompts_gated") else "prompts"
    unjudged = int(data.get("unjudged_prompts") or 0)
    if data.get("prompt_stage") and unjudged:
        out.append(
            f"prompts: {data['prompts']:,} in stages/{data['prompt_stage']}.jsonl, of which"
            f" {data['prompts'] - unjudged:,} harmful (passed the gate) ="
            f" {_num(data['harmful_prompts_per_1k_tokens'])} per 1,000 tokens spent making"
            f" prompts ({data['prompt_completion_tokens']:,}) and {unjudged:,} unjudged"
            " (judge errors, kept)"
        )
    elif data.get("prompt_stage"):
        out.append(
            f"{kind}: {data['prompts']:,} in stages/{data['prompt_stage']}.jsonl ="
            f" {_num(data['prompts_per_1k_tokens'])} per 1,000 tokens spent making prompts"
            f" ({data['prompt_completion_tokens']:,})"
        )
    for name, gate in (data.get("gates") or {}).items():
        out.append(
            f"{name}: harmful-prompt rate {_pct(gate.get('harmful_rate'))}"
            f" ({gate.get('harmful', 0)}/{gate.get('judged', 0)} judged,"
            f" {gate.get('benign', 0)} benign, {gate.get('errors', 0)} judge errors"
            + (f", {gate['unjudged']} of them kept unjudged" if gate.get("unjudged") else "")
            + ")"
        )
    return out


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,.3f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
