"""Every prompt we send is a jinja2 template in package data; a user folder overrides any."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from sagert.core.errors import UserError


class Templates:
    def __init__(self, user_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if user_dir is not None:
            if not user_dir.is_dir():
                raise UserError(
                    "templates folder not found",
                    file=user_dir,
                    field="templates_dir",
                    fix="give an existing folder, or remove templates_dir",
                )
            loaders.append(jinja2.FileSystemLoader(str(user_dir)))
        loaders.append(jinja2.PackageLoader("sagert", "templates"))
        self.user_dir = user_dir
        # Prompts are plain text, not HTML: no autoescape; a missing variable is an error.
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )

    def render(self, name: str, **values: Any) -> str:
        try:
            return self.env.get_template(name).render(**values).strip()
        except jinja2.TemplateNotFound:
            raise UserError(
                f"prompt template {name!r} not found", fix="see `sagert list templates`"
            ) from None

    def names(self) -> list[str]:
        return sorted(n for n in self.env.list_templates() if n.endswith(".j2"))

    def source_of(self, name: str) -> str:
        """Where a template comes from: the user's folder or the package."""
        if self.user_dir is not None and (self.user_dir / name).is_file():
            return str(self.user_dir / name)
        return "sagert"
