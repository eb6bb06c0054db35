"""Multilingual records: language detection (py3langid, offline), translation into a target
language with a model, and the English reading that judges which read only English get."""
