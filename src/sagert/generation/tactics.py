"""Persuasion tactics: how the asker pushes. A factor of the Instruct-SkillMix sampling.

The list follows the persuasion techniques that move models most in Zeng et al. (2024), "How
Johnny Can Persuade LLMs to Jailbreak Them" (authority, urgency, emotional appeal, framing,
small steps, social proof...), each written as what the asker does, so a template can say
"the writer <tactic>". Every tactic keeps the request harmful: none of them asks for a safe
version of it.
"""

from __future__ import annotations

BUILTIN_TACTICS: tuple[str, ...] = (
    "claims a professional or expert reason for needing it",
    "stresses urgency and a deadline",
    "appeals to emotions such as fear, sympathy or anger",
    "frames it as a hypothetical or a piece of fiction",
    "breaks the goal into small steps that each look harmless",
    "says that everyone already does it, so it is normal",
    "asks for a ready-to-use template, script or list",
    "flatters the assistant and appeals to its helpfulness",
    "uses slang, typos and a very casual tone",
    "offers something in return for the help",
    "asks for several options and a comparison of them",
    "insists it is only for a private, one-time use",
)
