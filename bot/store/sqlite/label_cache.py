"""The label cache on SQLite: a table of its own."""

from __future__ import annotations

import json

from bot.install_context import current_or_one
from bot.render import Label
from bot.store.encoding import label_from_dict, label_to_dict
from bot.store.sqlite.database import SqliteDatabase

SCHEMA = """
-- Rekognition's answers by content: sha256 of the prepared image and the request parameters -> labels, so a
-- re-posted or cross-posted image costs no second call. Purged by age (the upkeep).
CREATE TABLE IF NOT EXISTS label_cache (
    cache_key TEXT PRIMARY KEY,
    labels_json TEXT NOT NULL,     -- [{name, confidence, parents, aliases}] as Rekognition answered
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS label_cache_by_age ON label_cache (created_at);
"""

# The install whose image it was ("" the one workspace's), so uninstalling deletes it (bot.store.sqlite.uninstalls)
COLUMNS_ADDED = {"label_cache": (("workspace", "TEXT NOT NULL DEFAULT ''"),)}


class SqliteLabelCache:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def cached_labels(self, cache_key: str, *, newer_than: float) -> tuple[Label, ...] | None:
        with self._database.reading() as db:
            row = db.execute(
                "SELECT labels_json FROM label_cache WHERE cache_key=? AND created_at >= ?", (cache_key, newer_than)
            ).fetchone()
        return None if row is None else tuple(label_from_dict(x) for x in json.loads(row["labels_json"]))

    def cache_labels(self, cache_key: str, labels: tuple[Label, ...]) -> None:
        with self._database.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO label_cache (cache_key, labels_json, created_at, workspace) VALUES (?,?,?,?)",
                (
                    cache_key,
                    json.dumps([label_to_dict(label) for label in labels]),
                    self._database.clock(),
                    current_or_one(),
                ),
            )

    def purge_label_cache(self, older_than: float) -> int:
        with self._database.transaction() as db:
            return db.execute("DELETE FROM label_cache WHERE created_at < ?", (older_than,)).rowcount
