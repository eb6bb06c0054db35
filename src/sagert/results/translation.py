"""The translate stage's figures: per language, how many records were translated and why the
others were not (the model wrote another language, a malformed or cut-off answer...).

Read from the stage's file (every record, resumed ones too). A record that failed says which
check failed in `meta.translation.problem`; `wrong_language` is the one that tells a language
the translator cannot write. translated_rate = translated / (translated + failed), with a
Wilson 95% interval; records set aside (`filtered`: already in the language, or a prompt an
encoding attack style made unreadable as text) are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sagert.results.intervals import rate_fields
from sagert.store.records import Record

TRANSLATION_KEY = "translation"
"""meta["translation"]: {source_id, from, to, translator, problem (failed records)}."""
PROBLEMS = ("wrong_language", "malformed", "truncated", "too_short", "too_long", "call_failed")


def _counts() -> dict[str, int]:
    return {"translated": 0, "failed": 0, **dict.fromkeys(PROBLEMS, 0), "already": 0, "encoded": 0}


def translation_figures(records: Iterable[Record]) -> dict[str, Any]:
    """{"languages": {code: counts + translated_rate}, "total": the same over all}."""
    by: dict[str, dict[str, int]] = {}
    total = _counts()
    for record in records:
        info = record.meta.get(TRANSLATION_KEY) or {}
        language = str(info.get("to") or "-")
        counts = by.setdefault(language, _counts())
        for c in (counts, total):
            if record.status == "ok":
                c["translated"] += 1
            elif record.status == "filtered":
                c["encoded" if info.get("skipped") == "encoded" else "already"] += 1
            else:
                c["failed"] += 1
                problem = str(info.get("problem") or "call_failed")
                c[problem if problem in PROBLEMS else "call_failed"] += 1

    def rated(c: dict[str, int]) -> dict[str, Any]:
        return {
            **c,
            **rate_fields("translated_rate", c["translated"], c["translated"] + c["failed"]),
        }

    return {"languages": {k: rated(v) for k, v in sorted(by.items())}, "total": rated(total)}
