"""Response cache: a hit costs no call, so a re-run of a finished command is free."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from sagert.models.types import GenerateConfig, Message, ModelOutput


def cache_key(identity: dict[str, Any], messages: list[Message], config: GenerateConfig) -> str:
    payload = {
        "identity": identity,
        "messages": [m.model_dump() for m in messages],
        "config": config.model_dump(mode="json"),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """SQLite in the run directory; WAL so a crash keeps every committed answer."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, output TEXT NOT NULL)"
        )

    def get(self, key: str) -> ModelOutput | None:
        row = self._db.execute("SELECT output FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return ModelOutput.model_validate_json(row[0])

    def put(self, key: str, output: ModelOutput) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, output) VALUES (?, ?)",
            (key, output.model_dump_json(exclude={"cached"})),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._db.close()
