"""The task-format contract: a named, described shape a generated request can take."""

from __future__ import annotations

from sagert.generation.formats import TaskFormat, formats
from sagert.testing.contracts.base import require

MIN_DESCRIPTION = 11
"""Characters: the generator is shown the description, so it must say something."""


def check_format(fmt: TaskFormat) -> None:
    """Check a task format; ContractError if it breaks the contract."""
    who = f"task format {getattr(fmt, 'name', fmt)!r}"
    require(isinstance(fmt, TaskFormat), who, f"is a {type(fmt).__name__}, not a TaskFormat")
    require(
        fmt.name in formats and formats.get(fmt.name) is fmt,
        who,
        f"is not registered under its name: formats.add({fmt.name!r}, TaskFormat(...))",
    )
    require(
        len(fmt.description) >= MIN_DESCRIPTION,
        who,
        f"description {fmt.description!r} is shorter than {MIN_DESCRIPTION} characters",
    )
