"""`guard`: a guardrail classifier trained by `sagert train --method guard` as a judge.

`judge: {name: guard, settings: {model: runs/x/train/guard/final}}`. A prompt alone is
classified as a request, a prompt and a response as an answer: unsafe or safe at the
thresholds chosen on the guard's validation split (guard.json), with the categories over
their threshold in `categories` and p(unsafe) in `score`. No judge model: the classifier runs
here (CPU or a GPU), loaded on the first score; concurrent scores are gathered into one batch
(judges/batching.py). A folder that cannot be loaded makes every score an error with the
reason, never a verdict.
"""

from __future__ import annotations

import threading
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
from sagert.models.classifier import GuardClassifier, GuardText

NAME = "guard"
EMPTY = "empty text"


class GuardJudgeSettings(BaseModel):
    """`guard` settings."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    """The guard folder: the final/ folder of `sagert train --method guard`."""
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """p(unsafe) from which the verdict is unsafe; None: the guard's own, per task."""
    max_batch: int = Field(default=32, gt=0, le=4096)
    device: str = "cpu"


Probabilities = list[float]


@judges.register(NAME, "A guardrail classifier trained by sagert train --method guard (no model).")
class GuardJudge:
    """Unsafe when the classifier's p(unsafe) reaches its threshold, safe otherwise."""

    name: ClassVar[str] = NAME
    needs_model: ClassVar[bool] = False
    kind: ClassVar[JudgeKind] = "harm"
    classifies_prompts: ClassVar[bool] = True
    languages: ClassVar[tuple[str, ...] | None] = None
    """Trained on the run's records in whatever languages they are: read as they come."""
    description: ClassVar[str] = (
        "A trained guard (sagert train --method guard): unsafe / safe for a prompt or a response"
        " with the taxonomy's categories, on CPU, no judge model (needs sagert[train])."
    )
    Settings: ClassVar[type[GuardJudgeSettings]] = GuardJudgeSettings

    def __init__(
        self, settings: dict[str, Any] | None = None, *, classifier: GuardClassifier | None = None
    ) -> None:
        """`classifier` replaces the folder's (tests); by default it loads on first use."""
        self.settings = judge_settings(GuardJudgeSettings, settings, self.name)
        self._classifier = classifier
        self._failed: str | None = None
        self._lock = threading.Lock()
        self._batcher: Batcher[GuardText, Probabilities] = Batcher(
            self.probabilities, self.settings.max_batch
        )

    def classifier(self) -> GuardClassifier:
        """The loaded classifier (once; a failed load is remembered and raised again)."""
        with self._lock:
            if self._classifier is None:
                if self._failed is not None:
                    raise UserError(self._failed)
                try:
                    self._classifier = GuardClassifier.load(
                        Path(self.settings.model),
                        device=self.settings.device,
                        batch_size=self.settings.max_batch,
                    )
                except UserError as exc:
                    self._failed = exc.one_line()
                    raise
            return self._classifier

    def probabilities(self, items: Sequence[GuardText]) -> list[Probabilities]:
        """p(label) for each item; blocking, so the batcher runs it in a thread."""
        return [[float(p) for p in row] for row in self.classifier().probabilities(items)]

    async def score(self, item: JudgeInput, ctx: JudgeContext) -> Score:
        text = GuardText(item.prompt, item.response, tuple(item.turns or ()))
        if not item.prompt.strip() or (item.response is not None and not item.response.strip()):
            return error_score(self.name, EMPTY)
        try:
            probs = await self._batcher.submit(text)
        except UserError as exc:
            return error_score(self.name, exc.one_line())
        except Exception as exc:  # the classifier failed: no verdict, never a guess
            return error_score(self.name, f"guard classifier failed: {type(exc).__name__}: {exc}")
        card = self.classifier().card
        threshold = self.settings.threshold
        if threshold is None:
            threshold = card.thresholds.unsafe(text.task)
        unsafe = probs[0] >= threshold
        categories = [
            label
            for label, p in zip(card.categories, probs[1:], strict=True)
            if unsafe and p >= card.thresholds.category
        ]
        return Score(
            judge=self.name,
            verdict="unsafe" if unsafe else "safe",
            categories=categories,
            score=probs[0],
            explanation=f"{text.task}: p(unsafe)={probs[0]:.2f}, threshold {threshold:.2f}",
        )
