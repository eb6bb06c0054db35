"""Record stages of generation: raw text, extraction, evolution, attack styles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, Field

import sagert.attacks  # noqa: F401  (registers attack styles and operators)
from sagert.attacks.base import TransformContext, TransformError, apply_chain, transform_options
from sagert.core.refusals import refusal_marker
from sagert.core.seeds import record_rng, record_seed
from sagert.engine.context import RunContext
from sagert.engine.stage import stages
from sagert.models.model import ModelCallError
from sagert.models.structured import generate_structured
from sagert.models.types import GenerateConfig, Message
from sagert.settings.stages import AttackStage, EvolveStage, ExtractStage, RawTextStage
from sagert.store.records import Record


@stages.register("raw_text", "The generator writes raw text in the sampled format on the topic.")
@dataclass
class RawText:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("taxonomy", "format", "meta.topic")
    makes: ClassVar[tuple[str, ...]] = ("meta.raw_text",)
    Settings: ClassVar[type[BaseModel]] = RawTextStage

    settings: RawTextStage

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        return ("generator",)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        m = record.meta
        prompt = ctx.templates.render(
            "generation/raw_text.j2",
            topic=m["topic"],
            topic_description=m["topic_description"],
            category_path=m["category_path"],
            format=record.format,
            format_description=m["format_description"],
            persona=record.persona,
            region=m.get("region"),
            domain=ctx.config.domain,
        )
        raw: list[str] = []
        reason = "no answer"
        for attempt in range(self.settings.attempts):
            seed = record_seed(ctx.config.seed, record.id, self.name, attempt)
            try:
                out = await ctx.role("generator").generate(
                    [Message(role="user", content=prompt)], GenerateConfig(seed=seed)
                )
            except ModelCallError as exc:
                return [
                    record.failed(
                        self.name, str(exc), raw + ([exc.raw] if exc.raw else []), attempt + 1
                    )
                ]
            raw.append(out.text)
            text = out.text.strip()
            marker = refusal_marker(text)
            if marker:
                reason = f"the generator refused ({marker!r})"
            elif len(text) < self.settings.min_chars:
                reason = f"too short ({len(text)} < {self.settings.min_chars} characters)"
            else:
                return [record.child(self.name, meta={**m, "raw_text": text})]
        return [record.failed(self.name, reason, raw, self.settings.attempts)]


class _Query(BaseModel):
    query: str = Field(min_length=8, max_length=4000)
    rationale: str = ""
    category: str = ""


class _Queries(BaseModel):
    queries: list[_Query] = Field(min_length=1)


@stages.register("extract", "k user queries extracted from the raw text, with rationales.")
@dataclass
class Extract:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("meta.raw_text",)
    makes: ClassVar[tuple[str, ...]] = ("seed_prompt", "prompt", "meta.rationale")
    Settings: ClassVar[type[BaseModel]] = ExtractStage

    settings: ExtractStage

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        return ("generator",)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        m = record.meta
        k = self.settings.queries_per_text
        prompt = ctx.templates.render(
            "generation/extract.j2",
            raw_text=m["raw_text"],
            k=k,
            topic=m["topic"],
            category_path=m["category_path"],
            format=record.format,
        )
        result = await generate_structured(
            ctx.role("generator"),
            [Message(role="user", content=prompt)],
            _Queries,
            GenerateConfig(seed=record_seed(ctx.config.seed, record.id, self.name)),
            attempts=self.settings.attempts,
        )
        if result.value is None:
            return [
                record.failed(self.name, result.error or "no answer", result.raw, result.attempts)
            ]
        out: list[Record] = []
        seen: set[str] = set()
        refused = 0
        for i, q in enumerate(result.value.queries[:k]):
            text = q.query.strip()
            if refusal_marker(text):
                refused += 1
                continue
            if text.lower() in seen:
                continue
            seen.add(text.lower())
            out.append(
                record.child(
                    self.name,
                    key=i,
                    seed_prompt=text,
                    prompt=text,
                    meta={
                        **m,
                        "query_index": i,
                        "rationale": q.rationale.strip(),
                        "extracted_category": q.category.strip(),
                    },
                )
            )
        if not out:
            why = "every extracted query was a refusal" if refused else "no usable query"
            return [record.failed(self.name, why, result.raw, result.attempts)]
        return out


def _transform_context(
    ctx: RunContext, record: Record, purpose: str, options: dict[str, Any] | None = None
) -> TransformContext:
    return TransformContext(
        rng=record_rng(ctx.config.seed, record.id, purpose),
        templates=ctx.templates,
        model=ctx.role("generator"),
        seed=record_seed(ctx.config.seed, record.id, purpose),
        options=options or {},
    )


@stages.register("evolve", "LLM evolution operators applied for N rounds (deepen, concretize...).")
@dataclass
class Evolve:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt",)
    makes: ClassVar[tuple[str, ...]] = ("prompt", "lineage")
    Settings: ClassVar[type[BaseModel]] = EvolveStage

    settings: EvolveStage

    def active(self) -> bool:
        return self.settings.rounds > 0 and bool(self.settings.operators)

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        return ("generator",)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        tctx = _transform_context(ctx, record, self.name)
        chosen = [tctx.rng.choice(self.settings.operators) for _ in range(self.settings.rounds)]
        try:
            text, steps = await apply_chain(record, chosen, "evolution", tctx)
        except TransformError as exc:
            return [record.failed(self.name, exc.reason, exc.raw, exc.attempts)]
        return [
            record.child(
                self.name,
                prompt=text,
                lineage=[*record.lineage, *steps],
                meta={**record.meta, "evolution": chosen},
            )
        ]


@stages.register("attack", "Attack styles applied to each prompt (deterministic and LLM-driven).")
@dataclass
class Attack:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt",)
    makes: ClassVar[tuple[str, ...]] = ("prompt", "lineage", "meta.attack")
    Settings: ClassVar[type[BaseModel]] = AttackStage

    settings: AttackStage

    def active(self) -> bool:
        return self.settings.per_prompt > 0 or not self.settings.include_plain

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")

    def roles(self) -> tuple[str, ...]:
        return ("generator",)

    def _options(self) -> dict[str, Any]:
        return transform_options(self.settings.jailbreak_templates, self.settings.language)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        out: list[Record] = []
        if self.settings.include_plain:
            out.append(record.child(self.name, key="plain", meta={**record.meta, "attack": "none"}))
        for variant in range(self.settings.per_prompt):
            tctx = _transform_context(ctx, record, f"{self.name}-{variant}", self._options())
            k = min(self.settings.compose, len(self.settings.styles))
            styles = tctx.rng.sample(self.settings.styles, k)
            try:
                text, steps = await apply_chain(record, styles, "attack", tctx)
            except TransformError as exc:
                out.append(record.failed(self.name, exc.reason, exc.raw, exc.attempts, variant))
                continue
            out.append(
                record.child(
                    self.name,
                    key=variant,
                    prompt=text,
                    lineage=[*record.lineage, *steps],
                    meta={**record.meta, "attack": "+".join(styles)},
                )
            )
        return out
