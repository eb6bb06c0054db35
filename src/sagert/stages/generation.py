"""Record stages of generation: raw text, extraction, evolution, attack styles."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, Field

import sagert.attacks  # noqa: F401  (registers attack styles and operators)
from sagert.attacks.base import TransformContext, TransformError, apply_chain, transform_options
from sagert.core.refusals import refusal_marker
from sagert.core.seeds import record_rng, record_seed
from sagert.engine.context import RunContext
from sagert.engine.stage import stages
from sagert.generation.queries import meta_query_reason, trim_instruction_echo
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
        framings = RAW_TEXT_FRAMINGS if self.settings.reframe else RAW_TEXT_FRAMINGS[:1]
        values = {
            "topic": m["topic"],
            "topic_description": m["topic_description"],
            "category_path": m["category_path"],
            "format": record.format,
            "format_description": m["format_description"],
            "persona": record.persona,
            "region": m.get("region"),
            "tactic": m.get("tactic"),
            "domain": ctx.config.domain,
        }
        raw: list[str] = []
        reason = "no answer"
        framing = refusals = 0
        for attempt in range(self.settings.attempts):
            prompt = ctx.templates.render(framings[framing], **values)
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
                refusals += 1
                framing = min(framing + 1, len(framings) - 1)  # the next framing, then stay
            elif len(text) < self.settings.min_chars:
                reason = f"too short ({len(text)} < {self.settings.min_chars} characters)"
            else:
                meta = {**m, "raw_text": text, **framing_meta(framings[framing], refusals)}
                return [record.child(self.name, meta=meta)]
        return [record.failed(self.name, reason, raw, self.settings.attempts)]


RAW_TEXT_FRAMINGS = ("generation/raw_text.j2", "generation/raw_text_reframed.j2")
"""The raw-text prompt, and the second framing an attempt after a refusal uses."""
EXTRACT_FRAMINGS = ("generation/extract.j2", "generation/extract_reframed.j2")


def framing_meta(template: str, refusals: int) -> dict[str, Any]:
    """What a record keeps of how it was asked: the template, and the refusals before it."""
    return {"framing": template.rsplit("/", 1)[-1].removesuffix(".j2"), "refusals": refusals}


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
        framings = EXTRACT_FRAMINGS if self.settings.reframe else EXTRACT_FRAMINGS[:1]
        raw: list[str] = []
        attempts = refusals = 0
        why = "no answer"
        for n, framing in enumerate(framings):
            prompt = ctx.templates.render(
                framing,
                raw_text=m["raw_text"],
                k=k,
                topic=m["topic"],
                category_path=m["category_path"],
                format=record.format,
                persona=record.persona,
                tactic=m.get("tactic"),
            )
            # The first framing keeps the seed it always had (and so the cache's answers).
            purpose = self.name if n == 0 else f"{self.name}-framing-{n}"
            seed = record_seed(ctx.config.seed, record.id, purpose)
            result = await generate_structured(
                ctx.role("generator"),
                [Message(role="user", content=prompt)],
                _Queries,
                GenerateConfig(seed=seed),
                attempts=self.settings.attempts,
            )
            raw += result.raw
            attempts += result.attempts
            if result.value is None:
                why = result.error or "no answer"
                if not any(refusal_marker(text) for text in result.raw):
                    break  # malformed, not refused: another framing would not help
                refusals += 1
                why = f"the generator refused ({why})"
                continue
            quotable = (
                m["raw_text"],
                m["topic"],
                m["category_path"],
                record.persona,
                m.get("tactic"),
            )
            source = "\n".join(str(part) for part in quotable if part)
            echo = (prompt, source)
            out, dropped = self._queries(record, result.value.queries[:k], echo)
            if out:
                meta = {**framing_meta(framing, refusals), "dropped_queries": dict(dropped)}
                return [r.model_copy(update={"meta": {**r.meta, **meta}}) for r in out]
            refusals += dropped["refused"] > 0
            why = _nothing_usable(dropped)
            if not dropped["refused"]:
                break  # not refused: meta questions or duplicates, the framing is not why
        return [record.failed(self.name, why, raw, attempts)]

    def _queries(
        self, record: Record, queries: list[_Query], echo: tuple[str, str]
    ) -> tuple[list[Record], Counter[str]]:
        """The usable queries; `echo` is (the instruction sent, the text a query may quote)."""
        out: list[Record] = []
        seen: set[str] = set()
        dropped: Counter[str] = Counter()
        for i, q in enumerate(queries):
            text = trim_instruction_echo(q.query, *echo)
            if not text:
                dropped["echoes the instruction"] += 1
                continue
            if refusal_marker(text):
                dropped["refused"] += 1
                continue
            meta_reason = meta_query_reason(text)
            if meta_reason:
                dropped[f"meta question ({meta_reason})"] += 1
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
                        **record.meta,
                        "query_index": i,
                        "rationale": q.rationale.strip(),
                        "extracted_category": q.category.strip(),
                        "echo_trimmed": text != q.query.strip(),
                    },
                )
            )
        return out, dropped


def _nothing_usable(dropped: Counter[str]) -> str:
    if dropped and set(dropped) == {"refused"}:
        return "every extracted query was a refusal"
    if dropped:
        return "no usable query (" + ", ".join(f"{n} {why}" for why, n in dropped.items()) + ")"
    return "no usable query"


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
