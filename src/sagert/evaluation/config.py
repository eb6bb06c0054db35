"""Reading an evaluation config: a normal run config plus an `evaluate:` section.

Until RunConfig has an `evaluate` field, the section is taken out of the YAML here, validated
with EvaluateSettings, and the rest validated as a RunConfig, with the same one-line errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sagert.config import RunConfig, load_config, read_yaml_mapping
from sagert.errors import ConfigError
from sagert.evaluation.settings import EvaluateSettings, PromptSource
from sagert.validation import validate

SECTION = "evaluate"


def load_evaluate_config(
    path: Path, *, require_section: bool = True
) -> tuple[RunConfig, EvaluateSettings]:
    """The run config and its evaluate section; ConfigError naming the file and field.

    Without `require_section`, a config with no section gets the defaults and a placeholder
    prompt list that the caller replaces (`sagert evaluate CONFIG --prompts FILE`).
    """
    if SECTION in RunConfig.model_fields:  # once config.py carries the section itself
        cfg = load_config(path)
        settings = getattr(cfg, SECTION, None)
        if isinstance(settings, EvaluateSettings):
            return cfg, settings
        if require_section:
            raise _missing(path)
        return cfg, _placeholder()
    data = _read_yaml(path)
    section = data.pop(SECTION, None)
    cfg = validate(RunConfig, data, file=str(path))
    if section is None:
        if require_section:
            raise _missing(path)
        return cfg, _placeholder()
    return cfg, validate(EvaluateSettings, section, file=str(path), prefix=SECTION)


PLACEHOLDER = PromptSource(path=Path("-"))


def _placeholder() -> EvaluateSettings:
    return EvaluateSettings(prompts=[PLACEHOLDER])


def user_sources(settings: EvaluateSettings) -> list[PromptSource]:
    """The prompt sources a config gave (none when the section was absent)."""
    return [s for s in settings.prompts if s != PLACEHOLDER]


def _missing(path: Path) -> ConfigError:
    return ConfigError(
        "no evaluate section",
        file=path,
        field=SECTION,
        fix="add evaluate: {prompts: [{path: prompts.csv}]}, or pass --prompts FILE",
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    return read_yaml_mapping(path)


def load_run_config(path: Path) -> RunConfig:
    """A run config with or without an evaluate section (for commands that take either)."""
    if SECTION not in RunConfig.model_fields and SECTION in _read_yaml(path):
        return load_evaluate_config(path)[0]
    return load_config(path)
