"""The test server's counters: exact, so tests can assert on every request and outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ServerStats:
    """Exact counters of a server's completion requests (mutated only on the server's loop)."""

    requests: int = 0
    """Completion requests received."""
    responses: int = 0
    """Completion requests answered (an abandoned ``hang`` is not answered)."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """One count per request, under the fault's name: ok, 429, 500, garbage, ..., bad-request."""
    in_flight: int = 0
    max_in_flight: int = 0
    """Most completion requests being handled at once."""
    other_requests: int = 0
    """Requests to /v1/models and /stats."""

    def count(self, name: str) -> int:
        return self.outcomes.get(name, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "responses": self.responses,
            "outcomes": dict(self.outcomes),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "other_requests": self.other_requests,
        }
