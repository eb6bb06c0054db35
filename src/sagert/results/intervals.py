"""Wilson score intervals: every rate sagert reports carries one (95% by default)."""

from __future__ import annotations

import math

Z95 = 1.959964


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for k successes in n trials (None when n is 0)."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_fields(name: str, k: int, n: int) -> dict[str, float | None]:
    """`name`, `name_low`, `name_high`: k / n and its interval (None when n is 0)."""
    interval = wilson(k, n)
    return {
        name: k / n if n else None,
        f"{name}_low": interval[0] if interval else None,
        f"{name}_high": interval[1] if interval else None,
    }
