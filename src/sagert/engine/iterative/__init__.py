"""Iterative red-teaming attacks (PAIR, TAP, Crescendo): every step persisted, so a run resumes."""

from sagert.engine.iterative.crescendo import run_crescendo
from sagert.engine.iterative.pair import run_pair
from sagert.engine.iterative.steps import AttackContext, AttackResult, Scorer, StepLog
from sagert.engine.iterative.tap import run_tap
from sagert.settings.iterative import CrescendoSettings, PairSettings, TapSettings

__all__ = [
    "AttackContext",
    "AttackResult",
    "CrescendoSettings",
    "PairSettings",
    "Scorer",
    "StepLog",
    "TapSettings",
    "run_crescendo",
    "run_pair",
    "run_tap",
]
