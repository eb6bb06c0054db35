"""jailbreak_template: the request placed into a jailbreak template from a user-supplied file.

`ctx.options["jailbreak_templates"]` names a JSON list of strings (or of objects with a
`template` field), a JSONL file with a `template` field per line (or a JSON string per line),
or a folder of .txt files (one template each, in name order). No template ships with sagert.

The request goes where the template asks for it: `{0}` (Python-format templates such as
HarmBench's, where `{{`/`}}` are escaped braces), or `[INSERT PROMPT HERE]`, `{request}`,
`{{request}}`, `{prompt}`, `{{prompt}}`, `[PROMPT]`, `{query}`; a template without a
placeholder gets the request appended. The chosen index is recorded in the args.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from sagert.attacks.base import TransformContext, TransformError, TransformResult
from sagert.attacks.common import AttackStyle, attack

OPTION = "jailbreak_templates"

PLACEHOLDER = re.compile(
    r"\[INSERT PROMPT HERE\]|\[PROMPT\]"
    r"|\{\{\s*(?:request|prompt|query)\s*\}\}|\{(?:request|prompt|query)\}",
    re.IGNORECASE,
)


def fill(template: str, request: str) -> tuple[str, str | None]:
    """The template with the request inserted, and the placeholder used (None: appended)."""
    if "{0}" in template:
        try:
            return template.format(request), "{0}"
        except (ValueError, IndexError, KeyError):
            return template.replace("{0}", request), "{0}"
    match = PLACEHOLDER.search(template)
    if match:
        return PLACEHOLDER.sub(lambda _: request, template), match.group()
    return f"{template.rstrip()}\n\n{request}", None


def load_templates(path: str | Path) -> list[str]:
    """The templates in `path`; TransformError when it is missing, unreadable or empty."""
    path = Path(path).expanduser()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        raise TransformError(f"jailbreak templates not found: {path}") from None
    return list(_load(str(path), stamp))


@lru_cache(maxsize=8)
def _load(name: str, _stamp: int) -> tuple[str, ...]:
    path = Path(name)
    try:
        if path.is_dir():
            items: list[object] = [
                p.read_text(encoding="utf-8") for p in sorted(path.glob("*.txt"))
            ]
        elif path.suffix.lower() == ".jsonl":
            lines = path.read_text(encoding="utf-8").splitlines()
            items = [json.loads(line) for line in lines if line.strip()]
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            items = data if isinstance(data, list) else [data]
    except (OSError, ValueError) as exc:
        raise TransformError(f"cannot read jailbreak templates {path}: {exc}") from exc
    templates = tuple(t for t in (_template_of(item, path) for item in items) if t.strip())
    if not templates:
        raise TransformError(f"no jailbreak templates in {path}")
    return templates


def _template_of(item: object, path: Path) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("template"), str):
        return str(item["template"])
    raise TransformError(
        f"{path}: each jailbreak template must be a string or an object with a 'template' string"
    )


@attack
class JailbreakTemplate(AttackStyle):
    name = "jailbreak_template"
    description = "The request inserted into a jailbreak template from the user's own file."

    async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
        source = ctx.options.get(OPTION)
        if not source:
            raise TransformError(
                f"jailbreak_template needs options[{OPTION!r}]: a JSON list of templates, a "
                "JSONL file with a 'template' field, or a folder of .txt files"
            )
        templates = load_templates(source)
        pinned = ctx.options.get("jailbreak_template_index")
        index = int(pinned) if pinned is not None else ctx.rng.randrange(len(templates))
        if not 0 <= index < len(templates):
            raise TransformError(
                f"jailbreak_template_index {index} is out of range (0..{len(templates) - 1})"
            )
        out, placeholder = fill(templates[index], text)
        return TransformResult(
            out,
            args={"template_index": index, "templates": len(templates), "placeholder": placeholder},
        )
