"""`contrast_prompts`: benign prompts that only look harmful, for over-refusal training pairs.

A model trained only on refusals learns to refuse more. Contrast prompts are requests that are
safe to answer but resemble a harm category, in XSTest's styles (homonyms, figurative
language, safe targets, safe contexts, definitions, discrimination against nonsense groups or
nonsense discrimination against real groups, historical events, privacy of public figures and
of fictional ones): the generator writes `per_call` of them per (taxonomy leaf, style) from
`contrast/<style>.j2`, and the prompt gate's benign prompts (stages/benign.jsonl, those judged
not harmful and not attack-encoded) join them. A prompt judge, when one is set, must find each
generated prompt not harmful. Enough candidates are made for `share` of the training set
(results/contrast.py) times `oversample`, and more (`top_up`) when the contrast stage finds
that too few of them made pairs.

No contrast prompt may equal or nearly equal a prompt of the over-refusal test (XSTest): after
each run every candidate is screened against `exclude` and evaluate.prompts (diversity/
overlap.py) and against the other candidates; the ones left out are listed, with what they
match, in stages/contrast_prompts.excluded.jsonl (a view rebuilt whole each run) and counted.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from sagert.core.errors import ConfigError
from sagert.core.ids import stable_id
from sagert.core.refusals import refusal_marker
from sagert.core.seeds import record_seed
from sagert.engine.context import RunContext
from sagert.engine.progress import ProgressFactory
from sagert.engine.runner import run_stage
from sagert.engine.stage import stages
from sagert.engine.summary import StageSummary
from sagert.judges import make_judge
from sagert.judges.base import Judge, JudgeContext, JudgeInput, Score, classifies_prompts
from sagert.judges.harm_intent import CATEGORY_KEY
from sagert.models.structured import generate_structured
from sagert.models.types import GenerateConfig, Message
from sagert.results.contrast import candidates_wanted, contrast_target
from sagert.settings.contrast import ContrastStage, ExcludeSource
from sagert.settings.run import RunConfig
from sagert.stages.contrast_screen import (
    BENIGN_STYLE,
    benign_inputs,
    left_out_ids,
    load_exclusions,
    screen,
)
from sagert.stages.sample import tree_of
from sagert.store.records import Failure, Record
from sagert.taxonomy import Taxonomy
from sagert.taxonomy.walk import taxonomy_path, walk_leaves

SECTION = "contrast"
UNIT_STAGE = "contrast_unit"
CONTRAST_KEY = "contrast"


class _Prompt(BaseModel):
    prompt: str = Field(min_length=8, max_length=1000)
    why_safe: str = ""


class _Prompts(BaseModel):
    prompts: list[_Prompt] = Field(min_length=1)


@dataclass
class ContrastSummary(StageSummary):
    contrast: dict[str, Any] = field(default_factory=dict)
    """The stage's figures over its whole file (targets, sources, exclusions, pairs)."""


def stage_figures(ctx: RunContext, name: str) -> dict[str, Any]:
    """A contrast stage's figures as last recorded in the manifest ({} before its first run)."""
    entry = ctx.store.manifest().stages.get(name)
    return dict((entry.model_extra or {}).get(CONTRAST_KEY, {}) if entry else {})


def template_of(style: str) -> str:
    """A style's template: built-in `contrast/<style>.j2`, or `custom:NAME` -> NAME.j2."""
    return f"contrast/{style.removeprefix('custom:')}.j2"


def units(tree: Taxonomy, styles: list[str], seed: int, n: int) -> Iterator[Record]:
    """The first n (leaf, style) units: every leaf and every style in turn, each pair once per
    round, seeded and prefix-stable (a larger n adds units, never changes the first ones)."""
    leaves = list(walk_leaves(tree.model_dump(mode="json")["roots"]))
    rng = random.Random(seed)
    rng.shuffle(leaves)
    order = list(styles)
    rng.shuffle(order)
    if not leaves or not order:
        return
    per_round = len(leaves) * len(order)
    for i in range(n):
        j = i % per_round
        leaf = leaves[j % len(leaves)]
        style = order[(j % len(leaves) + j // len(leaves)) % len(order)]
        repeat = i // per_round
        node = leaf.chain[-1]
        yield Record(
            id=stable_id(UNIT_STAGE, leaf.keys, style, repeat),
            stage=UNIT_STAGE,
            taxonomy=taxonomy_path(leaf.keys),
            meta={
                "topic": node["name"],
                "topic_description": node.get("description", ""),
                "category_path": " > ".join(n["name"] for n in leaf.chain),
                "contrast_unit": {"style": style, "repeat": repeat},
            },
        )


@stages.register(
    "contrast_prompts",
    "Benign prompts that look harmful (XSTest's styles), screened against the test sets.",
)
@dataclass
class ContrastPrompts:
    name: ClassVar[str]
    section: ClassVar[str] = SECTION
    needs: ClassVar[tuple[str, ...]] = ("meta.pair",)
    makes: ClassVar[tuple[str, ...]] = ("prompt", "meta.contrast")
    Settings: ClassVar[type[BaseModel]] = ContrastStage

    settings: ContrastStage
    exclude_from_evaluate: tuple[ExcludeSource, ...] = ()
    prompt_judge_name: str | None = None
    prompt_judge_settings: dict[str, Any] = field(default_factory=dict)
    prompt_judge: Judge | None = field(init=False, default=None)

    @classmethod
    def from_config(cls, config: RunConfig) -> ContrastPrompts:
        """The section, the evaluate prompts to exclude, and the gate's judge as default."""
        s = config.stages.contrast
        evaluate = config.evaluate.prompts if config.evaluate and s.exclude_evaluate else []
        sources = tuple(
            ExcludeSource(path=p.path, loader=p.loader, column=p.column) for p in evaluate
        )
        gate = config.stages.gate
        name = s.prompt_judge or gate.judge
        settings = s.prompt_judge_settings if s.prompt_judge else gate.settings
        return cls(s, sources, name, dict(settings))

    def __post_init__(self) -> None:
        if self.prompt_judge_name is None:
            return
        judge = make_judge(self.prompt_judge_name, self.prompt_judge_settings)
        if not classifies_prompts(judge):
            raise ConfigError(
                f"judge {self.prompt_judge_name!r} judges responses, not prompts",
                field=f"stages.{SECTION}.prompt_judge",
                fix="use harm_intent, llamaguard3, rubric or a panel of them",
            )
        self.prompt_judge = judge

    def active(self) -> bool:
        return self.settings.share > 0

    def spec(self) -> dict[str, Any]:
        return {**self.settings.model_dump(mode="json"), "prompt_judge": self.prompt_judge_name}

    def roles(self) -> tuple[str, ...]:
        judge = self.prompt_judge
        extra = (
            (self.settings.prompt_judge_role,) if judge is not None and judge.needs_model else ()
        )
        return tuple(dict.fromkeys(("generator", *extra)))

    async def run_stream(
        self,
        inputs: Iterator[Record],
        total: int | None,
        ctx: RunContext,
        progress: ProgressFactory,
    ) -> list[StageSummary]:
        """Candidates for the share of the pairs before it, then the screen (a view)."""
        harmful = sum(1 for _ in inputs)
        return [await self.make(harmful, int(self.figures(ctx).get("topped_up", 0)), ctx, progress)]

    def figures(self, ctx: RunContext) -> dict[str, Any]:
        return stage_figures(ctx, self.name)

    async def top_up(self, more: int, ctx: RunContext, progress: ProgressFactory) -> StageSummary:
        """`more` candidates on top of those wanted so far (the contrast stage asks when too few
        pairs passed validation); recorded, so a re-run wants them too and makes no call."""
        figures = self.figures(ctx)
        topped_up = int(figures.get("topped_up", 0)) + more
        return await self.make(int(figures.get("harmful_pairs", 0)), topped_up, ctx, progress)

    async def make(
        self, harmful: int, topped_up: int, ctx: RunContext, progress: ProgressFactory
    ) -> ContrastSummary:
        """Enough units for the share's candidates (plus `topped_up`), run, then screened."""
        s = self.settings
        target = contrast_target(harmful, s.share)
        wanted = candidates_wanted(target, s.oversample) + (topped_up if target else 0)
        tests = load_exclusions(s.exclude, self.exclude_from_evaluate)  # a bad path: before calls
        benign = list(benign_inputs(ctx.store)) if s.benign and wanted else []
        n_units = -(-max(0, wanted - len(benign)) // s.per_call)
        todo = [*benign, *units(tree_of(ctx), s.styles, ctx.config.seed, n_units)]
        with progress(self.name, len(todo)) as advance:
            summary = await run_stage(
                self, todo, ctx, concurrency=s.concurrency, on_progress=advance
            )
        figures = screen(ctx.store, self.name, tests, s.exclude_threshold)
        figures.update(
            harmful_pairs=harmful,
            share=s.share,
            target=target,
            wanted=wanted,
            units=n_units,
            benign_inputs=len(benign),
            topped_up=topped_up,
            prompt_judge=self.prompt_judge_name,
        )
        ctx.store.annotate_stage(self.name, {CONTRAST_KEY: figures})
        return ContrastSummary(**vars(summary), contrast=figures)

    def outputs(self, ctx: RunContext) -> tuple[Iterator[Record], int | None]:
        """The usable candidates (screened), the first `wanted` by id (a seeded mix)."""
        figures = self.figures(ctx)
        left_out = left_out_ids(ctx.store, self.name)
        usable = sorted(
            (r for r in ctx.store.records(self.name, ok_only=True) if r.id not in left_out),
            key=lambda r: r.id,
        )[: int(figures.get("wanted", 0))]
        return iter(usable), len(usable)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        if record.stage != UNIT_STAGE:  # a benign prompt of the gate: it is a candidate as is
            contrast = {"style": BENIGN_STYLE, "source": "benign", "why_safe": ""}
            contrast["why_safe"] = str(record.meta.get("benign_reason") or "")
            return [
                record.child(
                    self.name,
                    status="ok",
                    seed_prompt=record.prompt,
                    meta={**record.meta, CONTRAST_KEY: contrast},
                )
            ]
        return await self._generate(record, ctx)

    async def _generate(self, unit: Record, ctx: RunContext) -> list[Record]:
        m = unit.meta
        style = m["contrast_unit"]["style"]
        k = self.settings.per_call
        prompt = ctx.templates.render(
            template_of(style),
            k=k,
            category_path=m["category_path"],
            topic=m["topic"],
            domain=ctx.config.domain,
        )
        result = await generate_structured(
            ctx.role("generator"),
            [Message(role="user", content=prompt)],
            _Prompts,
            GenerateConfig(seed=record_seed(ctx.config.seed, unit.id, self.name)),
            attempts=self.settings.attempts,
        )
        if result.value is None:
            return [
                unit.failed(self.name, result.error or "no answer", result.raw, result.attempts)
            ]
        out: list[Record] = []
        seen: set[str] = set()
        for i, item in enumerate(result.value.prompts[:k]):
            text = item.prompt.strip()
            if refusal_marker(text) or text.lower() in seen:
                continue
            seen.add(text.lower())
            contrast = {"style": style, "source": "generated", "why_safe": item.why_safe.strip()}
            candidate = unit.child(
                self.name,
                key=i,
                prompt=text,
                seed_prompt=text,
                meta={**m, CONTRAST_KEY: contrast},
            )
            out.append(await self._judged(candidate, ctx))
        if not out:
            return [unit.failed(self.name, "no usable prompt", result.raw, result.attempts)]
        return out

    async def _judged(self, candidate: Record, ctx: RunContext) -> Record:
        """With a prompt judge: on when not harmful, aside when harmful, failed on an error."""
        judge = self.prompt_judge
        if judge is None:
            return candidate
        role = self.settings.prompt_judge_role
        jctx = JudgeContext(
            templates=ctx.templates, model=ctx.role(role) if judge.needs_model else None
        )
        item = JudgeInput(
            prompt=candidate.prompt or "",
            meta={CATEGORY_KEY: candidate.meta["category_path"]},
        )
        score = await score_safely(judge, item, jctx)
        scores = {**candidate.scores, self.name: {"prompt": [score.model_dump()]}}
        if score.verdict == "safe":
            return candidate.model_copy(update={"scores": scores})
        if score.verdict == "unsafe":
            meta = {**candidate.meta, "contrast_reason": f"judged harmful ({judge.name})"}
            return candidate.model_copy(
                update={"status": "filtered", "meta": meta, "scores": scores}
            )
        why = score.error or f"verdict {score.verdict!r} is not safe or unsafe"
        failure = Failure(
            stage=self.name,
            reason=f"prompt judge error ({judge.name}: {why})",
            raw=[score.raw] if score.raw else [],
            attempts=1,
        )
        return candidate.model_copy(
            update={"status": "failed", "failure": failure, "scores": scores}
        )


async def score_safely(judge: Judge, item: JudgeInput, jctx: JudgeContext) -> Score:
    """A judge that raises is a judge error for this prompt, not a crash."""
    try:
        return await judge.score(item, jctx)
    except Exception as exc:
        return Score(judge=judge.name, verdict="error", error=f"{type(exc).__name__}: {exc}")
