"""`respond`: a role answers each prompt, n samples, each sample with its own seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

from sagert.core.ids import stable_id
from sagert.engine.answers import answer_samples
from sagert.engine.context import RunContext
from sagert.engine.stage import stages
from sagert.models.model import ModelCallError
from sagert.models.types import Message
from sagert.settings.run import RoleName
from sagert.settings.stages import RespondStage
from sagert.store.records import Record


@stages.register("respond", "A role answers every prompt (n samples each).")
@dataclass
class Respond:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt",)
    makes: ClassVar[tuple[str, ...]] = ("responses",)
    Settings: ClassVar[type[BaseModel]] = RespondStage

    settings: RespondStage

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        return (self.settings.role,)

    async def process(self, record: Record, ctx: RunContext) -> list[Record]:
        role: RoleName = self.settings.role
        model = ctx.role(role)
        user = ctx.templates.render("respond/user.j2", prompt=record.prompt or "")
        messages = [Message(role="user", content=user)]
        try:
            answers = await answer_samples(
                model,
                messages,
                self.settings.n_samples,
                lambda sample: _sample_seed(ctx.config.seed, record.id, sample),
            )
        except ModelCallError as exc:
            return [
                record.failed(
                    self.name, str(exc), raw=[exc.raw] if exc.raw else [], attempts=exc.attempts
                )
            ]
        return [record.child(self.name, responses={**record.responses, role: answers})]


def _sample_seed(run_seed: int, record_id: str, sample: int) -> int:
    """Reproducible, distinct per sample, so n samples are n different cached answers."""
    return int(stable_id(run_seed, record_id, sample)[:8], 16)
