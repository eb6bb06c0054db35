"""Attack styles and evolution operators: text -> text transforms that compose."""

from sagert.attacks import (
    context,
    encoding,
    evolution,
    injection,
    jailbreak_template,
    llm_attacks,
    obfuscation,
    splitting,
    structure,
)

__all__ = [
    "context",
    "encoding",
    "evolution",
    "injection",
    "jailbreak_template",
    "llm_attacks",
    "obfuscation",
    "splitting",
    "structure",
]
