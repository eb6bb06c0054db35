"""Where record stages run: in this process (default), or as Ray actors on a cluster."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ExecutorSettings(BaseModel):
    """`executor: ray` or `executor: {kind: ray, address: ..., workers: N}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(
        default=None,
        description="A running Ray cluster (host:port, ray://host:10001, auto); none: start one.",
    )
    workers: int | None = Field(
        default=None, ge=1, le=4096, description="Ray actors (default: the cluster's CPUs)."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data
