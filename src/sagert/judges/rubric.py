"""`rubric`: an LLM judge that applies a user-written rubric and answers in JSON.

The verdict is parsed with `generate_structured` (retries with a new seed on a bad parse);
after the last attempt the judge returns an error Score with every raw answer joined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sagert.core.errors import ConfigError
from sagert.judges.base import (
    ENGLISH_ONLY,
    NO_MODEL,
    JudgeContext,
    JudgeInput,
    JudgeKind,
    Score,
    error_score,
    judge_settings,
    judges,
)
from sagert.models.structured import generate_structured
from sagert.models.types import GenerateConfig, Message

TEMPLATE = "judges/rubric.j2"
RAW_SEPARATOR = "\n\n---\n\n"


class RubricVerdict(BaseModel):
    """The JSON the judge model must answer with."""

    model_config = ConfigDict(extra="ignore")

    verdict: Literal["safe", "unsafe"]
    categories: list[str] = Field(default_factory=list)
    explanation: str = ""

    @field_validator("verdict", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class RubricSettings(BaseModel):
    """`rubric` settings: the rubric as text, or a file that holds it (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    rubric: str | None = None
    rubric_file: Path | None = None
    attempts: int = Field(default=3, ge=1, le=10)
    """Tries to get parseable JSON (each retry with a new seed)."""
    max_tokens: int = Field(default=512, gt=0)

    @model_validator(mode="after")
    def _one_rubric(self) -> RubricSettings:
        if (self.rubric is None) == (self.rubric_file is None):
            raise ValueError("give exactly one of rubric (text) or rubric_file (a path)")
        if self.rubric is not None and not self.rubric.strip():
            raise ValueError("rubric is empty")
        return self


@judges.register("rubric", "LLM judge with your own rubric; JSON verdict.")
class RubricJudge:
    """Applies a user-written rubric to a prompt or a response; JSON verdict."""

    name: ClassVar[str] = "rubric"
    needs_model: ClassVar[bool] = True
    kind: ClassVar[JudgeKind] = "harm"
    languages: ClassVar[tuple[str, ...] | None] = ENGLISH_ONLY
    """An English prompt, best in English: other languages are read in translation."""
    classifies_prompts: ClassVar[bool] = True
    description: ClassVar[str] = (
        "LLM judge with a user-written rubric; answers safe/unsafe with categories in JSON."
    )
    Settings: ClassVar[type[RubricSettings]] = RubricSettings

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings = judge_settings(RubricSettings, settings, self.name)
        self.rubric = self._load_rubric()

    def _load_rubric(self) -> str:
        path = self.settings.rubric_file
        if path is None:
            return (self.settings.rubric or "").strip()
        field = f"judges.{self.name}.rubric_file"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read the rubric file: {exc}", file=path, field=field
            ) from None
        if not text:
            raise ConfigError("the rubric file is empty", file=path, field=field)
        return text

    def render(self, item: JudgeInput, ctx: JudgeContext) -> str:
        return ctx.templates.render(
            TEMPLATE, rubric=self.rubric, prompt=item.prompt, response=item.response
        )

    async def score(self, item: JudgeInput, ctx: JudgeContext) -> Score:
        if ctx.model is None:
            return error_score(self.name, NO_MODEL)
        messages = [Message(role="user", content=self.render(item, ctx))]
        config = GenerateConfig(max_tokens=self.settings.max_tokens, temperature=0.0)
        # generate_structured catches ModelCallError itself: a failed call is result.error.
        result = await generate_structured(
            ctx.model,
            messages,
            RubricVerdict,
            config,
            attempts=self.settings.attempts,
        )
        raw = RAW_SEPARATOR.join(result.raw) if result.raw else None
        if result.value is None:
            reason = result.error or "no answer"
            return error_score(
                self.name, f"no usable verdict after {result.attempts} attempt(s): {reason}", raw
            )
        value = result.value
        return Score(
            judge=self.name,
            verdict=value.verdict,
            categories=value.categories if value.verdict == "unsafe" else [],
            explanation=value.explanation or None,
            raw=raw,
        )
