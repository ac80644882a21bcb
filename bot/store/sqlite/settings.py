"""Channel settings on SQLite: one row per channel that changed any, NULL columns meaning the workspace default; and
one row per user who opted out of labelling (/labels me off). Another install's are keyed "<workspace>/<id>"
(bot.store.encoding.in_workspace); the one workspace's by the ID alone, as they always were."""

from __future__ import annotations

import json
from collections.abc import Collection

from bot.install_context import workspace_or_current
from bot.settings import ChannelOverrides
from bot.store.encoding import in_workspace
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
    moderation INTEGER,
    moderation_threshold REAL,
    moderation_ignored TEXT,       -- JSON list of top-level categories
    text_mode TEXT,                -- auto | on | off
    language TEXT,                 -- a code of bot.i18n.LANGUAGES
    updated_at REAL NOT NULL
);
-- /labels me off: the user's images are not labelled, read or indexed (moderation still applies).
CREATE TABLE IF NOT EXISTS user_settings (
    user_id TEXT PRIMARY KEY,
    labels_off INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
-- Each install's own settings (many workspaces): where its held images' notices go (/labels moderation channel).
CREATE TABLE IF NOT EXISTS install_settings (
    workspace TEXT PRIMARY KEY,
    moderation_channel TEXT,
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
        ("moderation", "INTEGER"),
        ("moderation_threshold", "REAL"),
        ("moderation_ignored", "TEXT"),
        ("text_mode", "TEXT"),
        ("language", "TEXT"),
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
    "moderation": "moderation",
    "moderation_threshold": "moderation_threshold",
    "moderation_ignored": "moderation_ignored",
    "text_mode": "text",
    "language": "language",
}


class SqliteChannelSettings:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def get_overrides(self, channel_id: str, *, workspace: str | None = None) -> ChannelOverrides:
        with self._database.reading() as db:
            row = db.execute(
                f"SELECT {', '.join(SETTINGS_COLUMNS)} FROM channel_settings WHERE channel_id=?",
                (in_workspace(workspace, channel_id),),
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
            moderation=None if row["moderation"] is None else bool(row["moderation"]),
            moderation_threshold=row["moderation_threshold"],
            moderation_ignored=None
            if row["moderation_ignored"] is None
            else tuple(json.loads(row["moderation_ignored"])),
            text=row["text_mode"],
            language=row["language"],
        )

    def save_overrides(
        self,
        channel_id: str,
        overrides: ChannelOverrides,
        *,
        fields: Collection[str] | None = None,
        workspace: str | None = None,
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
            "moderation": overrides.moderation,
            "moderation_threshold": overrides.moderation_threshold,
            "moderation_ignored": as_json(overrides.moderation_ignored),
            "text_mode": overrides.text,
            "language": overrides.language,
        }
        columns = [column for column in values if fields is None or SETTINGS_COLUMNS[column] in fields]
        updates = "".join(f", {column}=excluded.{column}" for column in columns)
        with self._database.transaction() as db:
            db.execute(
                f"INSERT INTO channel_settings (channel_id, {', '.join(values)}, updated_at)"
                f" VALUES ({', '.join('?' * (len(values) + 2))})"
                f" ON CONFLICT (channel_id) DO UPDATE SET updated_at=excluded.updated_at{updates}",
                (in_workspace(workspace, channel_id), *values.values(), self._database.clock()),
            )

    def user_labels_off(self, user_id: str, *, workspace: str | None = None) -> bool:
        with self._database.reading() as db:
            row = db.execute(
                "SELECT labels_off FROM user_settings WHERE user_id=?", (in_workspace(workspace, user_id),)
            ).fetchone()
        return row is not None and bool(row["labels_off"])

    def set_user_labels_off(self, user_id: str, off: bool, *, workspace: str | None = None) -> None:
        with self._database.transaction() as db:
            db.execute(
                "INSERT INTO user_settings (user_id, labels_off, updated_at) VALUES (?,?,?)"
                " ON CONFLICT (user_id) DO UPDATE SET labels_off=excluded.labels_off, updated_at=excluded.updated_at",
                (in_workspace(workspace, user_id), int(off), self._database.clock()),
            )

    def moderation_channel(self, *, workspace: str | None = None) -> str | None:
        with self._database.reading() as db:
            row = db.execute(
                "SELECT moderation_channel FROM install_settings WHERE workspace=?", (workspace_or_current(workspace),)
            ).fetchone()
        return row["moderation_channel"] if row is not None else None

    def set_moderation_channel(self, channel_id: str | None, *, workspace: str | None = None) -> None:
        with self._database.transaction() as db:
            db.execute(
                "INSERT INTO install_settings (workspace, moderation_channel, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (workspace) DO UPDATE SET moderation_channel=excluded.moderation_channel,"
                " updated_at=excluded.updated_at",
                (workspace_or_current(workspace), channel_id, self._database.clock()),
            )
