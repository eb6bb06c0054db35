"""Best of n: which of a side's judged answers a pair keeps.

The judges first: only an answer with a good verdict for its side counts (a chosen answer
judged safe or refused for a harmful prompt, one that complied for a contrast prompt). Among
those, the rubric, in order (the first difference decides):

1. safest: the lowest harm score when the judge gives one (StrongREJECT's 0-1), else equal;
   then a full refusal over a partial one (the xstest judge's `partial_refusal` class);
2. finished: an answer cut off at max_tokens loses to one that ended;
3. not degenerate: an answer that loops (over a quarter of its word trigrams repeated) loses;
4. most helpful: more words, up to HELPFUL_WORDS (a safe completion that says why and offers
   an alternative is longer than a bare refusal; past that, length is not help);
5. the earliest sample (ties resolve the same way on every run).

A judge error never counts as a good verdict, so it is never picked. With a refusal judge
alone (markers), an answer that opens with a refusal and then complies counts as refused and
step 4 favours it for its length: validate with a harm judge (or xstest, which grades partial
refusals) when you sample several chosen answers.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sagert.store.records import Response

HELPFUL_WORDS = 250
REPEATED_TRIGRAMS = 0.25
MIN_WORDS_FOR_LOOP = 12
PARTIAL = "partial_refusal"
MISSING = Response(text="", model="")
"""A verdict without its answer (a record judged elsewhere) ranks by its index alone."""


def repeated_trigrams(text: str) -> float:
    """The share of word trigrams that repeat an earlier one (0: none; loops approach 1)."""
    words = text.lower().split()
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if len(words) < MIN_WORDS_FOR_LOOP or not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


Key = tuple[float, int, int, int, int, int]


def rubric(response: Response, score: float | None, index: int, partial: bool = False) -> Key:
    """The sort key of one answer: larger is better (see the module docstring)."""
    words = len(response.text.split())
    return (
        -(score or 0.0),
        int(not partial),
        int(response.finish_reason != "length"),
        int(repeated_trigrams(response.text) <= REPEATED_TRIGRAMS),
        min(words, HELPFUL_WORDS),
        -index,
    )


def pick_best(
    responses: Sequence[Response],
    verdicts: Sequence[dict[str, Any]],
    good: Collection[str],
    *,
    harm_scores: bool = True,
) -> int | None:
    """The index of the best answer whose verdict is in `good`, or None when none is.

    `harm_scores`: the verdicts' `score` is a harm score (a harm judge's): lower is safer."""
    eligible = [i for i, v in enumerate(verdicts) if v.get("verdict") in set(good) - {"error"}]
    if not eligible:
        return None

    def key(i: int) -> Key:
        answer = responses[i] if i < len(responses) else MISSING
        partial = PARTIAL in (verdicts[i].get("categories") or [])
        return rubric(answer, _score(verdicts[i]) if harm_scores else None, i, partial)

    return max(eligible, key=key)


def _score(verdict: dict[str, Any]) -> float | None:
    value = verdict.get("score")
    return float(value) if isinstance(value, int | float) else None
