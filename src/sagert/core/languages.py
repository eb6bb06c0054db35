"""The languages sagert detects and translates into: ISO 639-1 codes and their English names."""

from __future__ import annotations

from sagert.core.errors import ConfigError

ENGLISH = "en"

LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "zh": "Chinese (Simplified)",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "ru": "Russian",
    "ja": "Japanese",
    "ko": "Korean",
    "ar": "Arabic",
    "hi": "Hindi",
    "tr": "Turkish",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "cs": "Czech",
    "el": "Greek",
    "he": "Hebrew",
    "id": "Indonesian",
    "vi": "Vietnamese",
    "th": "Thai",
    "uk": "Ukrainian",
    "ro": "Romanian",
    "hu": "Hungarian",
    "bg": "Bulgarian",
    "ca": "Catalan",
}
"""Thirty widely written languages: the detector chooses among these only. Among every
language py3langid knows, short texts are confused with regional varieties (Spanish with
Galician or Extremaduran, Chinese with Wu); docs/multilingual.md has the measurement."""


_BY_NAME = {name.split()[0].lower(): code for code, name in LANGUAGES.items()}


def language_name(code: str) -> str:
    return LANGUAGES.get(code, code)


def language_code(value: str) -> str:
    """A code for a language given by code or English name ("French", "Chinese" -> fr, zh);
    anything else as given."""
    key = value.strip().lower()
    if key in LANGUAGES:
        return key
    return _BY_NAME.get(key.split()[0] if key else key, value)


def check_languages(codes: list[str], field: str) -> None:
    """Every code one the detector can recognise, else a ConfigError naming the field."""
    for i, code in enumerate(codes):
        if code not in LANGUAGES:
            raise ConfigError(
                f"language {code!r} is not one sagert can detect",
                field=f"{field}[{i}]",
                fix=f"use one of: {', '.join(LANGUAGES)}",
            )
