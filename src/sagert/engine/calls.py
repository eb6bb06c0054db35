"""What each model cost in a stage, and in a run: counters per model, endpoint and role.

A stage's share is the difference of the pool's counters before and after it; a run's is the
sum of its stages' shares. A fleet's per-endpoint counters (`endpoints: {url: {...}}`) are
handled the same way, one level down.

Rates are over wall time: `wall_seconds` is the stage's duration where the model made calls
(0 where it made none), so a run's rate is its stages' counts over the time those stages ran,
not diluted by stages that never called it. Requests are what reached the server: a model's
and a role's `calls` (attempts), an endpoint's `requests`.
"""

from __future__ import annotations

from typing import Any

ENDPOINTS = "endpoints"
WALL = "wall_seconds"
RATES = ("requests_per_second", "tokens_per_second", "completion_tokens_per_second")


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
        if _number(value) and key not in RATES:
            into[key] = into.get(key, 0) + value


def rates(stats: dict[str, Any], seconds: float, requests: str = "calls") -> dict[str, float]:
    """Requests, tokens and completion tokens per second of `seconds` (0 when no time)."""
    if seconds <= 0:
        return dict.fromkeys(RATES, 0.0)
    completion = stats.get("completion_tokens", 0)
    return {
        "requests_per_second": round(stats.get(requests, 0) / seconds, 3),
        "tokens_per_second": round((stats.get("prompt_tokens", 0) + completion) / seconds, 3),
        "completion_tokens_per_second": round(completion / seconds, 3),
    }


def _with_rates(entry: dict[str, Any], seconds: float) -> None:
    entry[WALL] = seconds
    entry.update(rates(entry, seconds))
    for ep in (entry.get(ENDPOINTS) or {}).values():
        ep.update(rates(ep, seconds, "requests"))


def add_rates(calls: dict[str, dict[str, Any]], seconds: float) -> dict[str, dict[str, Any]]:
    """A stage's per-model (and per-endpoint) shares with their rates over the stage's time."""
    for entry in calls.values():
        _with_rates(entry, seconds if entry.get("calls", 0) else 0.0)
    return calls


def role_shares(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], seconds: float
) -> dict[str, dict[str, Any]]:
    """Each role's share of a stage (calls, tokens, cost) from the ledger's spend, with rates."""
    out: dict[str, dict[str, Any]] = {}
    for role, now in after.items():
        share = _minus(now, before.get(role, {}))
        if share.get("calls", 0):
            share["cost_usd"] = round(share.get("cost_usd", 0.0), 6)
            share[WALL] = seconds
            share.update(rates(share, seconds))
            out[role] = share
    return out


def sum_roles(stage_roles: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per-role shares summed over stages, rates over the time of the stages they ran in."""
    totals: dict[str, dict[str, Any]] = {}
    for roles in stage_roles:
        for role, share in roles.items():
            _add(totals.setdefault(role, {}), share)
    for entry in totals.values():
        entry.update(rates(entry, entry.get(WALL, 0.0)))
    return totals


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
    for entry in totals.values():
        _with_rates(entry, entry.get(WALL, 0.0))
    return totals
