"""An evaluation run: sources -> eval_attack -> evaluate, then results.csv and summary.json.

The prompt files are read twice (a validation pass that counts, then the run), never held in
memory: only the ids of the current (prompt, attack) plans are, so a changed config does not
send stale attacked prompts to the targets.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from sagert.core.errors import UserError
from sagert.core.seeds import record_seed
from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory, no_progress
from sagert.engine.runner import run_stage
from sagert.engine.session import open_run
from sagert.engine.summary import StageSummary, stopped_by
from sagert.loaders import default_source_name, detect_loader, load_prompts
from sagert.models.spec import ModelSpec
from sagert.results.calibration import Calibration, load_calibration
from sagert.results.metrics import EVAL_ATTACK_STAGE, EVALUATE_STAGE, write_outputs
from sagert.settings.evaluate import EvaluateSettings, PromptSource
from sagert.settings.run import ROLES, RunConfig
from sagert.stages.evaluation import NO_ATTACK, EvalAttack, EvalRespond, attack_plan, target_plan
from sagert.store.manifest import EvaluationEntry
from sagert.store.records import Record
from sagert.store.run import RunStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """The checked sources and how many prompts they hold (for the progress bars)."""

    sources: list[ResolvedSource]
    prompts: int
    calibration: Calibration | None = None
    """The judge's sensitivity and specificity, when `judge_calibration` is set."""


@dataclass(frozen=True)
class ResolvedSource:
    source: PromptSource
    loader: str
    name: str
    limit: int | None


def resolve_sources(settings: EvaluateSettings) -> list[ResolvedSource]:
    """Each source's loader and name settled up front; two sources may not share a name."""
    resolved: list[ResolvedSource] = []
    for i, src in enumerate(settings.prompts):
        loader = src.loader or detect_loader(src.path)
        name = src.name or default_source_name(src.path, loader)
        if any(r.name == name for r in resolved):
            raise UserError(
                f"two prompt sources are both named {name!r}",
                field=f"evaluate.prompts[{i}].name",
                fix="give each source its own name",
            )
        resolved.append(ResolvedSource(src, loader, name, settings.source_limit(src)))
    return resolved


def source_records(src: ResolvedSource, seed: int) -> Iterator[Record]:
    """A source's records: the first `limit`, then a seeded `sample` of them (file order)."""
    s = src.source
    records: Iterator[Record] = load_prompts(
        s.path,
        src.loader,
        name=src.name,
        column=s.column,
        category_column=s.category_column,
        benign_column=s.benign_column,
        benign=s.benign,
    )
    if src.limit is not None:
        records = islice(records, src.limit)
    if s.sample is None:
        return records
    return iter(_reservoir(records, s.sample, random.Random(record_seed(seed, src.name, "sample"))))


def _reservoir(records: Iterable[Record], k: int, rng: random.Random) -> list[Record]:
    """k records drawn uniformly in one pass (Algorithm R), returned in file order."""
    kept: list[tuple[int, Record]] = []
    for i, record in enumerate(records):
        if i < k:
            kept.append((i, record))
        else:
            j = rng.randint(0, i)
            if j < k:
                kept[j] = (i, record)
    return [r for _, r in sorted(kept, key=lambda item: item[0])]


def all_sources(sources: list[ResolvedSource], seed: int) -> Iterator[Record]:
    for src in sources:
        yield from source_records(src, seed)


def target_specs(config: RunConfig, settings: EvaluateSettings) -> dict[str, ModelSpec]:
    """Roles from the config, plus the named target models of the evaluate section."""
    specs: dict[str, ModelSpec] = {role: config.models.for_role(role) for role in ROLES}
    for name, spec in settings.targets.items():
        where = f"evaluate.targets.{name}"
        if spec is None and name not in ROLES:
            raise UserError(
                f"{name!r} is not a role",
                field=where,
                fix=f"use a role ({', '.join(ROLES)}) or give its model: {name}: {{model: ...}}",
            )
        if spec is not None and name in ROLES:
            raise UserError(
                f"{name!r} is a role name",
                field=where,
                fix=f"set models.{name} instead, or give this model another name",
            )
        if spec is not None:
            specs[name] = spec
    return specs


def check_attacks(settings: EvaluateSettings) -> None:
    from sagert.attacks.base import attacks

    for i, attack in enumerate(settings.attacks):
        if attack == NO_ATTACK:
            continue
        for style in attack.split("+"):
            if style not in attacks:
                raise UserError(
                    f"unknown attack style {style!r}",
                    field=f"evaluate.attacks[{i}]",
                    fix=f"use none or one of: {', '.join(attacks.names())}",
                )
            if style == "jailbreak_template" and settings.jailbreak_templates is None:
                raise UserError(
                    "jailbreak_template needs templates",
                    field="evaluate.jailbreak_templates",
                    fix="give a JSON list, a JSONL file or a folder of templates",
                )


def prepare(settings: EvaluateSettings, seed: int) -> Prepared:
    """Check everything a user can get wrong before any model call; count the prompts."""
    if not settings.prompts:
        raise UserError(
            "no prompts to evaluate",
            field="evaluate.prompts",
            fix="add evaluate: {prompts: [{path: prompts.csv}]}, or pass --prompts FILE",
        )
    check_attacks(settings)
    EvalRespond(settings)  # builds the judge: its name and settings are checked
    calibration = None
    if settings.judge_calibration is not None:
        calibration = load_calibration(settings.judge_calibration, settings.judge)
    sources = resolve_sources(settings)
    return Prepared(sources, sum(1 for _ in all_sources(sources, seed)), calibration)


async def run_evaluation(
    ctx: RunContext,
    settings: EvaluateSettings,
    progress: ProgressFactory,
    prepared: Prepared | None = None,
    *,
    replace_changed: bool = False,
) -> tuple[list[StageSummary], dict[str, Any]]:
    """Both stages (resumable), then results.csv and summary.json; returns the summaries.

    `replace_changed`: a target whose model changed (a model trained again) answers anew, its
    old answers moved to evaluate.stale.jsonl, instead of the run refusing it.
    """
    seed = ctx.config.seed
    specs = target_specs(ctx.config, settings)
    plan = prepared or prepare(settings, seed)
    sources, prompts = plan.sources, plan.prompts
    missing = [name for name in settings.targets if name not in ctx.models.specs]
    if missing:
        raise ValueError(f"the run was opened without the targets {missing}: use open_evaluation")
    targets = tuple(settings.targets)
    _record_manifest(ctx, settings, specs, replace_changed)

    attack_stage = EvalAttack(settings)
    plans = (
        attack_plan(record, attack)
        for record in all_sources(sources, seed)
        for attack in settings.attacks
    )
    wanted: set[str] = set()

    def remember(records: Iterable[Record]) -> Iterator[Record]:
        for r in records:
            wanted.add(r.id)
            yield r

    summaries = []
    with progress(EVAL_ATTACK_STAGE, prompts * len(settings.attacks)) as advance:
        summaries.append(
            await run_stage(
                attack_stage,
                remember(plans),
                ctx,
                concurrency=settings.concurrency,
                on_progress=advance,
            )
        )

    def attacked() -> Iterator[Record]:
        return (
            r for r in ctx.store.records(EVAL_ATTACK_STAGE, ok_only=True) if r.parent_id in wanted
        )

    if stopped_by(summaries):
        return summaries, write_outputs(ctx.store, plan.calibration)  # a budget: no targets yet
    respond = EvalRespond(settings)
    total = sum(1 for _ in attacked()) * len(targets)
    with progress(respond.name, total) as advance:
        summaries.append(
            await run_stage(
                respond,
                (target_plan(r, t) for r in attacked() for t in targets),
                ctx,
                concurrency=settings.concurrency,
                on_progress=advance,
            )
        )
    return summaries, write_outputs(ctx.store, plan.calibration)


@dataclass(frozen=True)
class EvaluationResult:
    summaries: list[StageSummary]
    summary: dict[str, Any]


def settings_for(
    config: RunConfig,
    prompts: list[Path] | None = None,
    *,
    loader: str | None = None,
    limit: int | None = None,
) -> EvaluateSettings:
    """The config's evaluate section, its prompts replaced by `prompts` when given."""
    settings = config.evaluate
    if prompts:
        sources = [PromptSource(path=p, loader=loader) for p in prompts]
        settings = (settings or EvaluateSettings()).model_copy(update={"prompts": sources})
    elif loader is not None:
        raise UserError("--loader applies to --prompts", fix="give --prompts FILE too")
    if settings is None:
        raise UserError(
            "no evaluate section",
            field="evaluate",
            fix="add evaluate: {prompts: [{path: prompts.csv}]}, or pass --prompts FILE",
        )
    return with_limit(settings, limit) if limit is not None else settings


def with_limit(settings: EvaluateSettings, limit: int) -> EvaluateSettings:
    prompts = [
        s.model_copy(update={"limit": min(limit, s.limit) if s.limit else limit})
        for s in settings.prompts
    ]
    return settings.model_copy(update={"prompts": prompts, "limit": limit})


def run(
    config: RunConfig,
    settings: EvaluateSettings,
    *,
    progress: ProgressFactory = no_progress,
    prepared: Prepared | None = None,
    replace_changed: bool = False,
    retry_failed: bool = False,
) -> EvaluationResult:
    """`sagert evaluate`: a bad file or name fails before the run folder or any model call."""
    plan = prepared or prepare(settings, config.seed)
    specs = target_specs(config, settings)

    async def go() -> tuple[list[StageSummary], dict[str, Any]]:
        async with open_run(config, specs=specs, retry_failed=retry_failed) as ctx:
            return await run_evaluation(
                ctx, settings, progress, plan, replace_changed=replace_changed
            )

    summaries, summary = asyncio.run(go())
    return EvaluationResult(summaries, summary)


def _record_manifest(
    ctx: RunContext, settings: EvaluateSettings, specs: dict[str, ModelSpec], replace: bool
) -> None:
    """Keep each target's model and a fingerprint of it in the manifest.

    Answers are resumed by target name, so a name must keep meaning the same model: a target
    whose model, weights or settings changed since its answers were written is refused.
    """
    entry = ctx.store.manifest().evaluate
    previous = entry.fingerprints if entry else {}
    fingerprints = {name: target_fingerprint(ctx, name) for name in settings.targets}
    if ctx.store.paths.stage(EVALUATE_STAGE).is_file():
        for name, fp in fingerprints.items():
            if previous.get(name, fp) == fp:
                continue
            if replace:
                moved = set_aside_answers(ctx.store, name)
                log.info("target %s changed: %d old answers moved to the stale file", name, moved)
            else:
                raise UserError(
                    f"target {name!r} is another model (or settings) than when this run "
                    "answered with it",
                    file=ctx.store.path,
                    field=f"evaluate.targets.{name}",
                    fix="give the target a new name or the run a new name (its answers stay)",
                )
    ctx.store.record_evaluation(
        EvaluationEntry(
            settings=settings.model_dump(mode="json", exclude_none=True),
            targets={name: specs[name].model for name in settings.targets},
            fingerprints={**previous, **fingerprints},
            judge=settings.judge,
            judge_model=specs["judge"].model,
        )
    )


STALE = "stale.jsonl"


def set_aside_answers(store: RunStore, target: str) -> int:
    """Move one target's answers out of the stage file (appended to `evaluate.stale.jsonl`)."""
    stage = store.paths.stage(EVALUATE_STAGE)
    kept: list[str] = []
    stale: list[str] = []
    for line in stage.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            is_target = json.loads(line).get("meta", {}).get("target") == target
        except (ValueError, AttributeError):
            is_target = False  # a torn tail: the stage file's reader cuts it
        (stale if is_target else kept).append(line)
    with store.paths.stage_side(EVALUATE_STAGE, STALE).open("a", encoding="utf-8") as fh:
        fh.writelines(stale)
    store.write_text(stage, "".join(kept))
    return len(stale)


def target_fingerprint(ctx: RunContext, name: str) -> str:
    """What makes a target answer the way it does: provider identity and generation settings."""
    role = ctx.models.role(name)
    data = {
        "identity": role.model.provider.identity(),
        "config": role.spec.config.model_dump(mode="json", exclude_none=True),
        "system_prompt": role.spec.system_prompt,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
