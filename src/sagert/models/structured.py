"""Ask for JSON, parse it tolerantly, retry on a bad parse, and keep the raw text on failure."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from sagert.models.model import ModelCallError
from sagert.models.types import GenerateConfig, Generator, Message

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


@dataclass
class StructuredResult(Generic[T]):
    """`value` when parsed; otherwise `error` says why and `raw` keeps every answer we got."""

    value: T | None
    raw: list[str] = field(default_factory=list)
    error: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.value is not None


def extract_json(text: str) -> Any:
    """The first JSON object or array in `text`: fenced, bare, or with trailing commas."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        for start, char in enumerate(candidate):
            if char not in "{[":
                continue
            chunk = _balanced(candidate, start)
            if chunk is None:
                continue
            for attempt in (chunk, _TRAILING_COMMA.sub(r"\1", chunk)):
                try:
                    return json.loads(attempt)
                except ValueError:
                    continue
    raise ValueError("no JSON object or array found")


def _balanced(text: str, start: int) -> str | None:
    """The bracketed span starting at `start`, respecting strings; None if it never closes."""
    stack: list[str] = []
    in_string = escaped = False
    pairs = {"{": "}", "[": "]"}
    for i in range(start, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in pairs:
            stack.append(pairs[char])
        elif char in "}]":
            if not stack or stack.pop() != char:
                return None
            if not stack:
                return text[start : i + 1]
    return None


async def generate_structured(
    model: Generator,
    messages: list[Message],
    schema: type[T],
    config: GenerateConfig | None = None,
    *,
    attempts: int = 3,
) -> StructuredResult[T]:
    """Parse into `schema`; a retry changes the seed so the cache cannot replay a bad answer."""
    base = (config or GenerateConfig()).model_copy(
        update={"json_schema": schema.model_json_schema()}
    )
    result: StructuredResult[T] = StructuredResult(value=None)
    for attempt in range(attempts):
        seed = None if base.seed is None and attempt == 0 else (base.seed or 0) + attempt
        try:
            output = await model.generate(messages, base.model_copy(update={"seed": seed}))
        except ModelCallError as exc:
            result.attempts = attempt + 1
            result.error = f"model call failed: {exc}"
            if exc.raw:
                result.raw.append(exc.raw)
            return result
        result.raw.append(output.text)
        result.attempts = attempt + 1
        try:
            result.value = schema.model_validate(extract_json(output.text))
            result.error = None
            return result
        except ValueError as exc:  # ValidationError is a ValueError
            result.error = _reason(exc, output.text)
    return result


def _reason(exc: ValueError, text: str) -> str:
    if not text.strip():
        return "empty answer"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        return f"JSON does not match the schema at {where}: {first['msg']}"
    return f"not JSON: {exc}"
