"""The analysis steps' answer cache on SQLite (moderation, later text; labels have label_cache.py): a table of its
own."""

from __future__ import annotations

import json
from typing import Any

from bot.install_context import current_or_one
from bot.store.sqlite.database import SqliteDatabase

SCHEMA = """
-- Rekognition's answers for the steps other than labels, by (step name, sha256 of the prepared image and the step's
-- request parameters) -> the answer as JSON text (floats round-trip exactly). Purged by age (the upkeep).
CREATE TABLE IF NOT EXISTS answer_cache (
    step TEXT NOT NULL,            -- the step's name: "moderation"
    cache_key TEXT NOT NULL,
    answer_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (step, cache_key)
);
CREATE INDEX IF NOT EXISTS answer_cache_by_age ON answer_cache (created_at);
"""

# The install whose image it was ("" the one workspace's), so uninstalling deletes it (bot.store.sqlite.uninstalls)
COLUMNS_ADDED = {"answer_cache": (("workspace", "TEXT NOT NULL DEFAULT ''"),)}


class SqliteAnswerCache:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def cached_answer(self, step: str, key: str, *, newer_than: float) -> Any | None:
        with self._database.reading() as db:
            row = db.execute(
                "SELECT answer_json FROM answer_cache WHERE step=? AND cache_key=? AND created_at >= ?",
                (step, key, newer_than),
            ).fetchone()
        return None if row is None else json.loads(row["answer_json"])

    def cache_answer(self, step: str, key: str, answer: Any) -> None:
        with self._database.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO answer_cache (step, cache_key, answer_json, created_at, workspace)"
                " VALUES (?,?,?,?,?)",
                (step, key, json.dumps(answer), self._database.clock(), current_or_one()),
            )

    def purge_answers(self, older_than: float) -> int:
        with self._database.transaction() as db:
            return db.execute("DELETE FROM answer_cache WHERE created_at < ?", (older_than,)).rowcount
