"""LLM-driven attack styles: the generator rewrites the request in a persuasive framing.

Each is a template under templates/attacks/ plus the shared `llm_rewrite` helper (cleaning,
refusal and length checks, retries with a new seed).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sagert.attacks.base import TransformContext
from sagert.attacks.common import attack
from sagert.attacks.llm_rewrite import LLMAttack


@attack
class RolePlay(LLMAttack):
    name = "roleplay"
    description = "Rewritten as a role-play: the model is cast as a character who would answer."
    template = "attacks/roleplay.j2"


@attack
class Hypothetical(LLMAttack):
    name = "hypothetical"
    description = (
        "Rewritten as a hypothetical or fictional scenario (a story, a thought experiment)."
    )
    template = "attacks/hypothetical.j2"


@attack
class Authority(LLMAttack):
    name = "authority"
    description = "Rewritten as coming from an expert or official with a legitimate-sounding need."
    template = "attacks/authority.j2"


@attack
class PastTense(LLMAttack):
    name = "past_tense"
    description = "Rewritten in the past tense (how was this done back then?)."
    template = "attacks/past_tense.j2"


@attack
class Academic(LLMAttack):
    name = "academic"
    description = "Rewritten as a research or academic question (a literature review, a thesis)."
    template = "attacks/academic.j2"


LANGUAGES: tuple[str, ...] = (
    "French",
    "Spanish",
    "German",
    "Portuguese",
    "Italian",
    "Russian",
    "Chinese",
    "Japanese",
    "Arabic",
    "Hindi",
    "Swahili",
    "Bengali",
    "Zulu",
    "Scots Gaelic",
)
"""Languages chosen from when options has no "language"; includes low-resource ones."""


@attack
class Translation(LLMAttack):
    name = "translation"
    description = (
        "Translated into another language (options 'language', else one chosen at random)."
    )
    template = "attacks/translation.j2"
    min_ratio: ClassVar[float] = 0.2  # scripts such as Chinese are far shorter in characters

    def choose(self, text: str, ctx: TransformContext) -> dict[str, Any]:
        language = ctx.options.get("language") or ctx.rng.choice(LANGUAGES)
        return {"language": str(language)}
