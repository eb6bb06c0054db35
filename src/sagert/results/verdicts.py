"""The verdict names the results read, and which side of a rate each one is on.

The judges layer defines the verdicts; results, a sibling layer, cannot import it, so the
names a rate depends on are spelt here once (a judges test keeps the two in step).
"""

from __future__ import annotations

SUCCESS = frozenset({"unsafe", "complied"})
"""The harmful side: an attack succeeded (a safety judge's unsafe, a refusal judge's complied)."""
BLOCKED = frozenset({"safe", "refused"})
VERDICTS = SUCCESS | BLOCKED
"""Every verdict that is an answer; `error` is none of them."""
OPPOSITE = {"unsafe": "safe", "safe": "unsafe", "complied": "refused", "refused": "complied"}
