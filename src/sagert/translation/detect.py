"""Which language a text is in: py3langid (offline, 4.5 MB, no download), thirty languages.

Chosen by measurement (benchmarks/language_detection.py, numbers in docs/multilingual.md): on
sagert's hand-labelled set in en / es / fr / de / zh it was the most accurate of the offline
candidates once restricted to these thirty languages, with lingua a close second at twenty
times the size and a fraction of the speed. The model loads on the first text (about 1.5 s);
a detector that is never asked costs nothing, and one that is pickled (to a Ray actor)
before its first text travels without the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sagert.core.errors import UserError
from sagert.core.languages import ENGLISH, LANGUAGES

MIN_LETTERS = 8
"""Fewer letters than this and a text has no detectable language ("Ok.", a number, code)."""
MIN_PROBABILITY = 0.5
"""Below this the detector's best guess is no evidence: base64, mixed or garbled text."""


@dataclass(frozen=True)
class Detection:
    language: str | None
    """The most likely language; None when the text has too few letters to tell."""
    probability: float = 0.0

    @property
    def confident(self) -> bool:
        return self.language is not None and self.probability >= MIN_PROBABILITY

    def is_other_than(self, language: str) -> bool:
        """Confidently in some language other than `language`."""
        return self.confident and self.language != language


def letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


class LanguageDetector:
    """py3langid restricted to `languages` (default: LANGUAGES), loaded on first use."""

    def __init__(self, languages: tuple[str, ...] | None = None) -> None:
        self.languages = languages or tuple(LANGUAGES)
        self._model: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"languages": self.languages, "_model": None}

    def _identifier(self) -> Any:
        if self._model is None:
            try:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError as exc:  # a core dependency: only a broken install lacks it
                raise UserError(
                    f"language detection needs py3langid ({exc})",
                    fix="pip install py3langid (a dependency of sagert)",
                ) from exc
            model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            model.set_languages(list(self.languages))
            self._model = model
        return self._model

    def detect(self, text: str) -> Detection:
        if letters(text) < MIN_LETTERS:
            return Detection(None)
        language, probability = self._identifier().classify(text)
        return Detection(str(language), float(probability))

    def is_english(self, text: str) -> bool:
        """Not confidently another language: English, too short to tell, or unreadable."""
        return not self.detect(text).is_other_than(ENGLISH)
