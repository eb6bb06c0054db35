"""The model roles a run config names."""

from __future__ import annotations

from typing import Literal

RoleName = Literal["generator", "aligned", "unaligned", "target", "judge", "attacker", "translator"]
ROLES: tuple[RoleName, ...] = (
    "generator",
    "aligned",
    "unaligned",
    "target",
    "judge",
    "attacker",
    "translator",
)

ROLE_DESCRIPTIONS: dict[RoleName, str] = {
    "generator": "writes topics, raw text, prompts, evolutions and LLM-driven attacks",
    "aligned": "writes the chosen (safe) answers",
    "unaligned": "writes the rejected (unsafe) answers",
    "target": "the model under test: answers prompts in respond and evaluate",
    "judge": "the model behind judges that need one (llamaguard3, harmbench, rubric)",
    "attacker": "proposes and refines attacks: `sagert redteam`, PAIR, TAP, Crescendo",
    "translator": "translates records (the translate stage) and, for judges that read only"
    " English, back-translates what they judge",
}
