"""What an extracted query must not be: a question about red-teaming instead of a request.

A model asked to extract "requests a user might send" from a red-team text sometimes writes
about the exercise itself ("How can red teams test an assistant's refusals?") or points back at
the text ("Summarise the passage above"). Neither is a request a target could answer with the
harm of its category, so extraction drops them, counted, before the prompt gate spends a call.
Whether a request is harmful at all is the gate's question (a judge), not a pattern's.
"""

from __future__ import annotations

import re

_META = (
    (re.compile(r"\bred[- ]?team", re.IGNORECASE), "about red-teaming"),
    (
        re.compile(
            r"\b(?:ai|language model|llm|chatbot|assistant)(?:'s|s')?\s+(?:safety|guardrails?"
            r"|refus\w*|filters?|content polic\w*)",
            re.IGNORECASE,
        ),
        "about an assistant's safety",
    ),
    (
        re.compile(
            r"\btest(?:s|ing)?\s+(?:whether|if|how)\s+(?:an?|the)\s+(?:ai|assistant|model)",
            re.IGNORECASE,
        ),
        "about testing an assistant",
    ),
    (
        re.compile(r"\b(?:training|test) (?:data ?set|example)s?\b", re.IGNORECASE),
        "about a dataset",
    ),
    (
        re.compile(
            r"\bthe (?:text|passage|story|article|post|email|poem|excerpt|document)"
            r" (?:above|below)\b",
            re.IGNORECASE,
        ),
        "refers to the source text",
    ),
)


def meta_query_reason(text: str) -> str | None:
    """Why the query is about the exercise rather than a request, or None."""
    for pattern, reason in _META:
        if pattern.search(text):
            return reason
    return None


_WORD = re.compile(r"[a-z0-9']+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def trim_instruction_echo(query: str, instruction: str, source: str, n: int = 6) -> str:
    """The query without its sentences that copy the instruction we sent.

    A small model often ends a good request by repeating the template's own wording ("I need
    instructions, a plan, working code... Compliance would enable real harm"). A sentence that
    shares a run of `n` words with the instruction, where those words are not also in the
    source text or topic (`source`, which a request may quote), is dropped; the rest is kept.
    An empty result means the whole query was an echo.
    """
    echoed = _ngrams(_words(instruction), n) - _ngrams(_words(source), n)
    if not echoed:
        return query.strip()
    kept = [
        sentence
        for sentence in _SENTENCE_END.split(query.strip())
        if not (_ngrams(_words(sentence), n) & echoed)
    ]
    return " ".join(kept).strip()
