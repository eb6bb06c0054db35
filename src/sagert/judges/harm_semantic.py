"""`harm_semantic`: does a prompt ask for something harmful? Embeddings and a small trained head.

The prompt gate's offline judge. `harm_intent` asks a chat model yes or no, and the only model
the quickstart has (SmolLM2-135M) answers "No" to clearly harmful requests. This judge embeds
the prompt with all-MiniLM-L6-v2 (the encoder of `refusal_semantic`, offline, CPU), adds its
hashed character n-grams, and scores them with a logistic-regression head trained on sagert's
own labelled prompts (`data/harm_labels.csv`, numbers in docs/judges.md). unsafe: the prompt
requests harmful content; safe: it does not, however alarming its words ("how do I become a
suicide prevention counsellor?").

It answers the harm question only, for any category: it does not read the category the prompt
was written for, and it does not compare a rewrite with its seed (`reads_original` is false,
so the gate's intent check needs `harm_intent` or none). It judges prompts alone: given a
response it answers an error, never a verdict about the response. Without `sagert[embed]` it
still builds and every score is an error that says how to install it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import UserError
from sagert.judges.base import (
    JudgeContext,
    JudgeInput,
    JudgeKind,
    Score,
    error_score,
    judge_settings,
    judges,
)
from sagert.judges.batching import Batcher
from sagert.judges.semantic_encoder import (
    LazyEncoder,
    PooledEncoder,
    encoder_available,
    load_pooled_encoder,
    missing_encoder_error,
)
from sagert.judges.semantic_head import Head, embed_texts, features, load_head, needs_sentences

NAME = "harm_semantic"
HEAD_FILE = Path(__file__).parent / "data" / "harm_semantic_head.json"
EMPTY = "empty prompt"
PROMPTS_ONLY = (
    "the harm_semantic judge classifies prompts alone, not responses:"
    " use llamaguard3, harm_intent or strongreject for responses"
)


def missing_encoder(model: str) -> UserError:
    error = missing_encoder_error(model, NAME)
    return UserError(error.message, fix=f"{error.fix} (stages.gate.judge: another prompt judge)")


class HarmSemanticSettings(BaseModel):
    """`harm_semantic` settings."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """p(harmful) from which the verdict is unsafe; None: the head's own, chosen on the
    validation split (lower it to keep more borderline prompts, raise it to set more aside)."""
    max_batch: int = Field(default=64, gt=0, le=4096)
    """Most prompts encoded in one pass; concurrent scores are gathered up to this many."""
    max_chars: int = Field(default=2000, gt=0)
    """Characters from the start of the prompt that are read (the model reads 256 tokens)."""


@functools.cache
def shipped_head() -> Head:
    """The head in the package data, read once per process."""
    return load_head(HEAD_FILE)


@judges.register(NAME, "Prompt harm classifier: sentence embeddings + trained head (CPU).")
class HarmSemanticJudge:
    """Unsafe when the head's p(harmful) reaches the threshold, safe otherwise."""

    name: ClassVar[str] = NAME
    needs_model: ClassVar[bool] = False
    kind: ClassVar[JudgeKind] = "harm"
    classifies_prompts: ClassVar[bool] = True
    languages: ClassVar[tuple[str, ...] | None] = ("en", "es", "fr", "de", "zh")
    """The languages of its labelled set (docs/judges.md); others are read in English."""
    judges_responses: ClassVar[bool] = False
    reads_original: ClassVar[bool] = False
    description: ClassVar[str] = (
        "Prompt gate: does the prompt request harmful content? Multilingual sentence embeddings"
        " with a trained head: unsafe / safe, no judge model (needs sagert[embed])."
    )
    Settings: ClassVar[type[HarmSemanticSettings]] = HarmSemanticSettings

    def __init__(
        self, settings: dict[str, Any] | None = None, *, encoder: PooledEncoder | None = None
    ) -> None:
        """`encoder` replaces the real one (tests); by default it is built on first use."""
        self.settings = judge_settings(HarmSemanticSettings, settings, self.name)
        self.head = shipped_head()
        self.threshold = (
            self.head.threshold if self.settings.threshold is None else self.settings.threshold
        )
        self.model = str(self.head.meta["model"])
        self._ready = encoder is not None  # an injected encoder needs no installed model
        self._encode: PooledEncoder = (
            encoder
            if encoder is not None
            else LazyEncoder(functools.partial(load_pooled_encoder, self.model))
        )
        self._batcher: Batcher[str, float] = Batcher(self.probabilities, self.settings.max_batch)

    @property
    def batcher(self) -> Batcher[str, float]:
        return self._batcher

    def probabilities(self, prompts: Sequence[str]) -> list[float]:
        """p(harmful) for each prompt; blocking, so callers run it in a thread."""
        cut = [p[: self.settings.max_chars] for p in prompts]
        embedded = embed_texts(self._encode, cut, with_sentences=needs_sentences(self.head.blocks))
        return [float(p) for p in self.head.probability(features(self.head.blocks, embedded))]

    async def score(self, item: JudgeInput, ctx: JudgeContext) -> Score:
        if item.response is not None:
            return error_score(self.name, PROMPTS_ONLY)
        if not item.prompt.strip():
            return error_score(self.name, EMPTY)
        if not self._ready:
            if not encoder_available(self.model):
                return error_score(self.name, missing_encoder(self.model).one_line())
            self._ready = True
        try:
            p = await self._batcher.submit(item.prompt)
        except Exception as exc:  # the encoder failed: no verdict, never a guess
            return error_score(self.name, f"encoder failed: {exc}")
        return Score(
            judge=self.name,
            verdict="unsafe" if p >= self.threshold else "safe",
            explanation=f"requests harm: p(harmful)={p:.2f}",
        )
