"""n answers to one conversation, each sample with its own seed: how every stage samples a role.

The seed of each sample is the caller's (`seed_of(sample)`): each stage derives it its own
way, and cached answers and resumed runs depend on those seeds never changing.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass

from sagert.engine.context import RoleModel
from sagert.models.model import ModelCallError
from sagert.models.types import GenerateConfig, Message
from sagert.store.records import Response, response_from

SeedOf = Callable[[int], int]


@dataclass(frozen=True)
class Sample:
    """One sample's answer, or the call that failed for good."""

    index: int
    seed: int
    response: Response | None = None
    error: ModelCallError | None = None

    def unwrap(self) -> Response:
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


async def sample_answers(
    model: RoleModel,
    messages: list[Message],
    n: int,
    seed_of: SeedOf,
    config: GenerateConfig | None = None,
) -> AsyncGenerator[Sample, None]:
    """Samples 0..n-1 in order, each asked when the caller takes it; a failure is yielded.

    `config`: settings every sample shares (the seed is set per sample); only the fields set
    in it are sent, so the role's own defaults stay in force for the rest.
    """
    shared = config.model_dump(exclude_unset=True) if config is not None else {}
    for index in range(n):
        seed = seed_of(index)
        try:
            out = await model.generate(
                messages, GenerateConfig.model_validate({**shared, "seed": seed})
            )
        except ModelCallError as exc:
            yield Sample(index, seed, error=exc)
            continue
        yield Sample(index, seed, response=response_from(out, model.spec.model, index))


async def answer_samples(
    model: RoleModel,
    messages: list[Message],
    n: int,
    seed_of: SeedOf,
    config: GenerateConfig | None = None,
) -> list[Response]:
    """All n answers; the first failed call raises its ModelCallError (no later one is made)."""
    async with aclosing(sample_answers(model, messages, n, seed_of, config)) as samples:
        return [sample.unwrap() async for sample in samples]
