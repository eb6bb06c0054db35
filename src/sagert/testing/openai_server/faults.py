"""The fault names the test server knows, and how `429:SECONDS` is read."""

from __future__ import annotations

FAULTS = frozenset(
    {"ok", "429", "429-no-retry-after", "500", "garbage", "truncated", "hang", "slow"}
)


def fault_base(name: str) -> str:
    """The counted name of a fault (``429:0.05`` -> ``429``); raises ValueError if unknown."""
    base, sep, arg = name.partition(":")
    if base not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    if sep:
        if base != "429":
            raise ValueError(f"fault {name!r}: only 429 takes an argument (429:SECONDS)")
        float(arg)  # raises ValueError on a bad number
    return base
