"""Iterative red-teaming attacks (PAIR, TAP, Crescendo): every step persisted, so a run resumes."""

from sagert.engine.iterative.crescendo import CrescendoSettings, run_crescendo
from sagert.engine.iterative.pair import PairSettings, run_pair
from sagert.engine.iterative.steps import AttackContext, AttackResult, Scorer, StepLog
from sagert.engine.iterative.tap import TapSettings, run_tap

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
