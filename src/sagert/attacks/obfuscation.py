"""Obfuscation attack styles: the request's characters or tokens disguised, meaning kept.

All randomness comes from ctx.rng, so the same seed gives the same text. Each style changes at
least one character when the text has anything it can change.
"""

from __future__ import annotations

import random
import re
from typing import ClassVar

from sagert.attacks.base import TransformContext, TransformResult
from sagert.attacks.common import AttackStyle, attack

_WORD = re.compile(r"[^\W\d_]{4,}")
"""A word of four letters or more: the unit character swaps and splits work on."""


def _pick(rng: random.Random, count: int, rate: float) -> list[int]:
    """Indices out of `count`, each with probability `rate`, at least one when count > 0."""
    chosen = [i for i in range(count) if rng.random() < rate]
    if count and not chosen:
        chosen = [rng.randrange(count)]
    return chosen


def _rate(ctx: TransformContext, key: str, default: float) -> float:
    return float(ctx.options.get(key, default))


LEET: dict[str, tuple[str, ...]] = {
    "a": ("4", "@"),
    "e": ("3",),
    "i": ("1", "!"),
    "o": ("0",),
    "s": ("5", "$"),
    "t": ("7",),
    "l": ("1", "|"),
    "g": ("9",),
    "b": ("8",),
}


@attack
class LeetspeakAttack(AttackStyle):
    name = "leetspeak"
    description = "Letters replaced by look-alike digits and symbols (a->4, e->3, o->0...)."

    async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
        rate = _rate(ctx, "leet_rate", 0.7)
        positions = [i for i, char in enumerate(text) if char.lower() in LEET]
        chars = list(text)
        picked = _pick(ctx.rng, len(positions), rate)
        for index in picked:
            pos = positions[index]
            chars[pos] = ctx.rng.choice(LEET[chars[pos].lower()])
        return TransformResult("".join(chars), args={"rate": rate, "replaced": len(picked)})


@attack
class CharSwapAttack(AttackStyle):
    name = "char_swap"
    description = "Two adjacent inner letters swapped in some words (typo-style noise)."

    async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
        rate = _rate(ctx, "char_swap_rate", 0.5)
        words = [m for m in _WORD.finditer(text) if len(set(m.group()[1:-1])) > 1]
        chars = list(text)
        picked = _pick(ctx.rng, len(words), rate)
        for index in picked:
            match = words[index]
            # Keep the first and last letter; swap a pair of different inner letters.
            options = [
                i for i in range(match.start() + 1, match.end() - 2) if chars[i] != chars[i + 1]
            ]
            if options:
                i = ctx.rng.choice(options)
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
        return TransformResult("".join(chars), args={"rate": rate, "swapped_words": len(picked)})


HOMOGLYPHS: dict[str, str] = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440",
    "x": "\u0445", "y": "\u0443", "i": "\u0456", "j": "\u0458", "s": "\u0455",
    "A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415", "H": "\u041d",
    "K": "\u041a", "M": "\u041c", "O": "\u041e", "P": "\u0420", "T": "\u0422",
    "X": "\u0425",
}  # fmt: skip
"""Latin letters and the Cyrillic letters that look the same."""


@attack
class HomoglyphAttack(AttackStyle):
    name = "homoglyph"
    description = "Some Latin letters replaced by identical-looking Cyrillic ones."

    async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
        rate = _rate(ctx, "homoglyph_rate", 0.3)
        positions = [i for i, char in enumerate(text) if char in HOMOGLYPHS]
        chars = list(text)
        picked = _pick(ctx.rng, len(positions), rate)
        for index in picked:
            chars[positions[index]] = HOMOGLYPHS[chars[positions[index]]]
        return TransformResult("".join(chars), args={"rate": rate, "replaced": len(picked)})


@attack
class TokenSplitAttack(AttackStyle):
    name = "token_split"
    description = "Words split into letters by a visible separator (b-o-m-b), breaking tokens."
    separators: ClassVar[tuple[str, ...]] = ("-", ".", " ", "*", "_", "|", "/")

    async def apply(self, text: str, ctx: TransformContext) -> TransformResult:
        rate = _rate(ctx, "token_split_rate", 0.5)
        separator = str(ctx.options.get("separator", ctx.rng.choice(self.separators)))
        words = list(_WORD.finditer(text))
        picked = set(_pick(ctx.rng, len(words), rate))
        out: list[str] = []
        last = 0
        for index, match in enumerate(words):
            if index in picked:
                out += [text[last : match.start()], separator.join(match.group())]
                last = match.end()
        out.append(text[last:])
        return TransformResult(
            "".join(out), args={"separator": separator, "rate": rate, "split_words": len(picked)}
        )
