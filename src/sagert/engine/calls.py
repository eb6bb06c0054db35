"""What each model cost in a stage, and in a run: counters per model and per endpoint.

A stage's share is the difference of the pool's counters before and after it; a run's is the
sum of its stages' shares. A fleet's per-endpoint counters (`endpoints: {url: {...}}`) are
handled the same way, one level down.
"""

from __future__ import annotations

from typing import Any

ENDPOINTS = "endpoints"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _minus(now: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    return {k: (v - then.get(k, 0) if _number(v) else v) for k, v in now.items()}


def stats_delta(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """This stage's share of each model's counters (and of each of its endpoints')."""
    delta: dict[str, dict[str, Any]] = {}
    for name, now in after.items():
        then = before.get(name, {})
        entry = _minus({k: v for k, v in now.items() if k != ENDPOINTS}, then)
        if ENDPOINTS in now:
            was = then.get(ENDPOINTS, {})
            entry[ENDPOINTS] = {
                url: _minus(s, was.get(url, {})) for url, s in now[ENDPOINTS].items()
            }
        delta[name] = entry
    return delta


def _add(into: dict[str, Any], stats: dict[str, Any]) -> None:
    for key, value in stats.items():
        if _number(value):
            into[key] = into.get(key, 0) + value


def sum_calls(stage_calls: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per-model counters summed over stages (each holding its own stage's share)."""
    totals: dict[str, dict[str, Any]] = {}
    for calls in stage_calls:
        for name, stats in calls.items():
            entry = totals.setdefault(name, {"roles": []})
            for role in stats.get("roles", []):
                if role not in entry["roles"]:
                    entry["roles"].append(role)
            _add(entry, stats)
            for url, ep in (stats.get(ENDPOINTS) or {}).items():
                _add(entry.setdefault(ENDPOINTS, {}).setdefault(url, {}), ep)
    return totals
