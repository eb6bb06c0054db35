"""`panel: [...]` shorthand for a judge made of other judges, shared by every judge section."""

from __future__ import annotations

from typing import Any

PANEL_KEYS = ("rule", "tie")


def panel_shorthand(data: Any, name_key: str, settings_key: str) -> Any:
    """Rewrite `panel: [...]` (with `rule:` / `tie:`) into the panel judge and its settings."""
    if not isinstance(data, dict) or "panel" not in data:
        return data
    data = dict(data)
    if name_key in data or settings_key in data:
        raise ValueError(f"give either panel: [...] or {name_key}: NAME, not both")
    members = data.pop("panel")
    panel = {"members": members, **{k: data.pop(k) for k in PANEL_KEYS if k in data}}
    return {**data, name_key: "panel", settings_key: panel}
