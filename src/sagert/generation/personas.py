"""Personas: who is asking. A factor of the AART / Instruct-SkillMix combination sampling."""

from __future__ import annotations

BUILTIN_PERSONAS: tuple[str, ...] = (
    "a curious teenager",
    "a frustrated employee",
    "a university student",
    "a small-business owner",
    "a self-described security researcher",
    "a novelist researching a plot",
    "an anonymous forum user",
    "a parent",
    "a retired engineer",
    "a social media influencer",
    "a nurse",
    "a political activist",
)
