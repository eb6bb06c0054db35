"""Turn a pydantic ValidationError into one line that names the field and the fix."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sagert.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts)


def _fix_for(error: dict[str, Any], model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"remove it or correct the spelling{hint}"
    if kind == "missing":
        return "add this required field"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        got = type(error.get("input")).__name__
        return f"give a value of the right type (got {got})"
    return "change the value"


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    current: Any = model
    for item in loc:
        if isinstance(item, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            return []
        field = current.model_fields.get(str(item))
        if field is None:
            return []
        current = field.annotation
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def validate(model: type[M], data: Any, *, file: str | None = None, prefix: str = "") -> M:
    """Validate or raise ConfigError for the first problem (one clear line beats twenty)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = field_path(loc, prefix) or prefix or "(top level)"
        more = exc.error_count() - 1
        message = first["msg"] + (f" (and {more} more problem(s))" if more else "")
        raise ConfigError(
            message, file=file, field=field, fix=_fix_for(dict(first), model, loc)
        ) from None
