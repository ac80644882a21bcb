"""Channel settings on SQLite: one row per channel that changed any, NULL columns meaning the workspace default."""

from __future__ import annotations

import json
from collections.abc import Collection

from bot.settings import ChannelOverrides
from bot.store.sqlite.database import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS channel_settings (
    channel_id TEXT PRIMARY KEY,
    threshold REAL,                -- NULL: the workspace default
    max_labels INTEGER,
    enabled INTEGER,
    tags INTEGER,
    include_labels TEXT,           -- JSON list
    exclude_labels TEXT,
    updated_at REAL NOT NULL
);
"""

# Columns added after the table first shipped: (name, SQL type). Older databases get them on open.
COLUMNS_ADDED = {
    "channel_settings": (
        ("enabled", "INTEGER"),
        ("tags", "INTEGER"),
        ("include_labels", "TEXT"),
        ("exclude_labels", "TEXT"),
    )
}

# channel_settings' columns -> the ChannelOverrides field each holds
SETTINGS_COLUMNS = {
    "threshold": "threshold",
    "max_labels": "max_labels",
    "enabled": "enabled",
    "tags": "tags",
    "include_labels": "include",
    "exclude_labels": "exclude",
}


class SqliteChannelSettings:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def get_overrides(self, channel_id: str) -> ChannelOverrides:
        with self._database.reading() as db:
            row = db.execute(
                "SELECT threshold, max_labels, enabled, tags, include_labels, exclude_labels"
                " FROM channel_settings WHERE channel_id=?",
                (channel_id,),
            ).fetchone()
        if row is None:
            return ChannelOverrides()
        return ChannelOverrides(
            threshold=row["threshold"],
            max_labels=row["max_labels"],
            enabled=None if row["enabled"] is None else bool(row["enabled"]),
            tags=None if row["tags"] is None else bool(row["tags"]),
            include=None if row["include_labels"] is None else tuple(json.loads(row["include_labels"])),
            exclude=None if row["exclude_labels"] is None else tuple(json.loads(row["exclude_labels"])),
        )

    def save_overrides(
        self, channel_id: str, overrides: ChannelOverrides, *, fields: Collection[str] | None = None
    ) -> None:
        def as_json(values: tuple[str, ...] | None) -> str | None:
            return None if values is None else json.dumps(list(values))

        values = {
            "threshold": overrides.threshold,
            "max_labels": overrides.max_labels,
            "enabled": overrides.enabled,
            "tags": overrides.tags,
            "include_labels": as_json(overrides.include),
            "exclude_labels": as_json(overrides.exclude),
        }
        columns = [column for column in values if fields is None or SETTINGS_COLUMNS[column] in fields]
        updates = "".join(f", {column}=excluded.{column}" for column in columns)
        with self._database.transaction() as db:
            db.execute(
                f"INSERT INTO channel_settings (channel_id, {', '.join(values)}, updated_at) VALUES (?,?,?,?,?,?,?,?)"
                f" ON CONFLICT (channel_id) DO UPDATE SET updated_at=excluded.updated_at{updates}",
                (channel_id, *values.values(), self._database.clock()),
            )
