"""The one row that flows through every stage, with an id derived from its lineage."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sagert.core.ids import stable_id


class TaxonomyPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    macro: str | None = None
    sub: str | None = None
    leaf: str | None = None
    topic: str | None = None


class LineageStep(BaseModel):
    """One evolution or attack step: what was applied, and the text before and after."""

    model_config = ConfigDict(extra="forbid")

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    before: str
    after: str


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    model: str
    sample: int = 0
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def response_from(output: Any, model: str, sample: int = 0) -> Response:
    """A record's Response from a ModelOutput (text, finish reason, token counts)."""
    return Response(
        text=output.text,
        model=model,
        sample=sample,
        finish_reason=output.finish_reason,
        prompt_tokens=output.usage.prompt_tokens,
        completion_tokens=output.usage.completion_tokens,
    )


class Failure(BaseModel):
    """Why a record did not complete, with the model's raw text kept."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    reason: str
    raw: list[str] = Field(default_factory=list)
    attempts: int = 0


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    parent_id: str | None = Field(
        default=None, description="The input this record was made from (resume key)."
    )
    stage: str
    status: Literal["ok", "failed", "filtered"] = "ok"
    """ok: passed on; failed: could not be done (counted, retried by --retry-failed);
    filtered: done and set aside by a filter stage (the prompt gate's benign prompts), with
    the reason in meta: neither a failure nor passed on."""
    taxonomy: TaxonomyPath = Field(default_factory=TaxonomyPath)
    format: str | None = None
    persona: str | None = None
    seed_prompt: str | None = None
    prompt: str | None = None
    turns: list[dict[str, str]] | None = Field(
        default=None,
        description="A multi-turn conversation ({role, content} dicts) ending with the last user"
        " turn; `prompt` is that last user turn. None for a single-turn record.",
    )
    lineage: list[LineageStep] = Field(default_factory=list)
    responses: dict[str, list[Response]] = Field(default_factory=dict)
    scores: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)
    failure: Failure | None = None

    def child(self, stage: str, key: Any = None, **changes: Any) -> Record:
        """A record made from this one by `stage`; `key` tells siblings apart."""
        data = self.model_dump()
        data.update(changes)
        data.update(id=stable_id(self.id, stage, key), parent_id=self.id, stage=stage)
        return Record.model_validate(data)

    def failed(
        self,
        stage: str,
        reason: str,
        raw: list[str] | None = None,
        attempts: int = 0,
        key: Any = None,
    ) -> Record:
        """This record's output for `stage`, marked failed: never silently dropped."""
        return self.child(
            stage,
            key,
            status="failed",
            failure=Failure(stage=stage, reason=reason, raw=raw or [], attempts=attempts),
        )

    def filtered(self, stage: str, key: Any = None, **changes: Any) -> Record:
        """This record's output for `stage`, set aside (not passed on, not a failure)."""
        return self.child(stage, key, status="filtered", **changes)
