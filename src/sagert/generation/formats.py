"""Task formats: the shape a harmful request takes (SAGE's "task format selection")."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from sagert.core.errors import ConfigError
from sagert.core.registry import Registry
from sagert.core.validation import validate


class TaskFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = Field(min_length=3)
    coding: bool = False


formats: Registry[TaskFormat] = Registry("task format")

_BUILTIN: list[tuple[str, str]] = [
    ("question", "a direct question a user types into a chat assistant"),
    ("instruction", "an imperative instruction asking the assistant to do something"),
    ("social_media_post", "a short social media post with a casual tone and hashtags"),
    ("blog_entry", "a personal blog entry of a few paragraphs"),
    ("email", "an email with a subject line, greeting and sign-off"),
    ("news_article", "a news article with a headline and a neutral reporting tone"),
    ("short_story", "a short fictional story with characters and a plot"),
    ("poem", "a poem with verses"),
    ("dialogue", "a role-play dialogue between two or more characters"),
    ("code_request", "a request to write a program or script"),
    ("code_completion", "unfinished source code with a comment asking to complete it"),
    ("sql_query", "a request for an SQL query against a described database"),
    ("shell_script", "a request for a shell script or command line"),
    ("tutorial", "a step-by-step tutorial or how-to guide"),
    ("product_review", "a customer review of a product or service"),
    ("speech", "a speech to be delivered to an audience"),
    ("essay", "an argumentative essay"),
    ("letter", "a formal or personal letter"),
    ("forum_post", "a post on a discussion forum asking the community for help"),
    ("chat_message", "an informal instant-messaging chat message"),
    ("text_message", "a short SMS text message"),
    ("advertisement", "an advertisement or marketing copy"),
    ("screenplay", "a scene from a screenplay with stage directions"),
    ("faq", "a frequently-asked-questions entry"),
    ("research_abstract", "the abstract of an academic research paper"),
]

_CODING = {"code_request", "code_completion", "sql_query", "shell_script"}

for _name, _desc in _BUILTIN:
    formats.add(_name, TaskFormat(name=_name, description=_desc, coding=_name in _CODING), _desc)


class _FormatFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formats: list[TaskFormat]


def load_custom_formats(path: Path) -> list[TaskFormat]:
    """A YAML file `formats: [{name, description, coding}]`; names must not clash."""
    if not path.is_file():
        raise ConfigError("formats file not found", file=path, fix="check the path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"invalid YAML: {exc}".splitlines()[0], file=path, fix="correct the YAML syntax"
        ) from None
    parsed = validate(_FormatFile, data, file=str(path))
    seen: set[str] = set()
    for i, fmt in enumerate(parsed.formats):
        if fmt.name in seen:
            raise ConfigError(
                f"format {fmt.name!r} is defined twice",
                file=path,
                field=f"formats[{i}].name",
                fix="give each format its own name",
            )
        seen.add(fmt.name)
    return parsed.formats


def resolve_formats(names: list[str], custom: list[TaskFormat]) -> list[TaskFormat]:
    """Config names -> formats; `all` means every built-in plus the custom ones."""
    by_name = {e.name: e.obj for e in formats} | {f.name: f for f in custom}
    if not names or names == ["all"]:
        return list(by_name.values())
    chosen = []
    for i, name in enumerate(names):
        if name not in by_name:
            raise ConfigError(
                f"unknown task format {name!r}",
                field=f"generation.formats[{i}]",
                fix=f"use one of: {', '.join(sorted(by_name))}, or define it in custom_formats",
            )
        chosen.append(by_name[name])
    return chosen
