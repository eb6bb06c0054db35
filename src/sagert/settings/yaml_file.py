"""Reading a YAML mapping with one-line errors naming the file and the place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sagert.core.errors import ConfigError


def read_yaml_mapping(path: Path, missing_fix: str = "check the path") -> dict[str, Any]:
    """A YAML file whose top level is a mapping (empty file: {}); ConfigError otherwise."""
    if not path.is_file():
        raise ConfigError("config file not found", file=path, fix=missing_fix)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=path, fix="save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            str(problem), file=path, field=where, fix="correct the YAML syntax"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"the top level is a {type(data).__name__}, not a mapping",
            file=path,
            fix="write key: value pairs (see sagert init)",
        )
    return data
