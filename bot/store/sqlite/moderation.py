"""Moderation decisions on SQLite: a row per held image, and a row per released content (the release outlives the
deletion of the message it was decided on, so it can't be read from the held rows alone). decide is one
transaction: an UPDATE ... WHERE decision IS NULL (its rowcount says who won), the release, and the row read back.
hold records nothing for a message or file deleted in Slack (messages.py's markers), as the tag index does."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from bot.install_context import workspace_or_current
from bot.store.encoding import categories_from_json, categories_to_json
from bot.store.protocols import ALL_INSTALLS, DECISIONS, HeldImage
from bot.store.sqlite import messages
from bot.store.sqlite.database import SqliteDatabase

SCHEMA = """
-- Images DetectModerationLabels flagged, held for an admin's decision (NULL: waiting). Purged by held_at.
CREATE TABLE IF NOT EXISTS held_images (
    channel_id TEXT NOT NULL,
    message_ts TEXT NOT NULL,
    file_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    content_key TEXT NOT NULL,
    categories_json TEXT NOT NULL,  -- [[category, confidence], ...]
    held_at REAL NOT NULL,
    notice_channel TEXT NOT NULL DEFAULT '',
    notice_ts TEXT NOT NULL DEFAULT '',
    decision TEXT CHECK (decision IN ('released', 'kept')),
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at REAL,
    PRIMARY KEY (channel_id, message_ts, file_id)
);
CREATE INDEX IF NOT EXISTS held_images_by_file ON held_images (file_id);
CREATE INDEX IF NOT EXISTS held_images_by_age ON held_images (held_at);
-- Content an admin released ("Looks fine" holds for its re-posts), by content_key; purged by released_at.
CREATE TABLE IF NOT EXISTS released_content (
    content_key TEXT PRIMARY KEY,
    released_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS released_content_by_age ON released_content (released_at);
"""

# HeldImage.workspace, and a release's install (its content key names it too), so uninstalling deletes them
COLUMNS_ADDED = {
    "held_images": (("workspace", "TEXT NOT NULL DEFAULT ''"),),
    "released_content": (("workspace", "TEXT NOT NULL DEFAULT ''"),),
}

_KEY = "channel_id=? AND message_ts=? AND file_id=?"


class SqliteModerationDecisions:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def hold(self, image: HeldImage) -> bool:
        with self._database.transaction() as db:
            if messages.was_deleted(db, image.channel_id, image.message_ts, image.file_id):
                return False  # deleted in Slack while it was being checked
            return (
                db.execute(
                    "INSERT OR IGNORE INTO held_images (channel_id, message_ts, file_id, user_id, content_key,"
                    " categories_json, held_at, notice_channel, notice_ts, workspace) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        image.channel_id,
                        image.message_ts,
                        image.file_id,
                        image.user_id,
                        image.content_key,
                        categories_to_json(image.categories),
                        image.held_at,
                        image.notice_channel,
                        image.notice_ts,
                        image.workspace,
                    ),
                ).rowcount
                == 1
            )

    def held(self, channel_id: str, message_ts: str, file_id: str) -> HeldImage | None:
        with self._database.reading() as db:
            return _read(db, channel_id, message_ts, file_id)

    def set_notice(self, channel_id: str, message_ts: str, file_id: str, notice_channel: str, notice_ts: str) -> None:
        with self._database.transaction() as db:
            db.execute(
                f"UPDATE held_images SET notice_channel=?, notice_ts=? WHERE {_KEY}",
                (notice_channel, notice_ts, channel_id, message_ts, file_id),
            )

    def decide(
        self, channel_id: str, message_ts: str, file_id: str, decision: str, decided_by: str
    ) -> HeldImage | None:
        if decision not in DECISIONS:
            raise ValueError(f"decision {decision!r} is not one of {sorted(DECISIONS)}")
        with self._database.transaction() as db:
            now = self._database.clock()
            won = db.execute(
                f"UPDATE held_images SET decision=?, decided_by=?, decided_at=? WHERE {_KEY} AND decision IS NULL",
                (decision, decided_by, now, channel_id, message_ts, file_id),
            ).rowcount
            if not won:
                return None
            image = _read(db, channel_id, message_ts, file_id)
            if image is not None and decision == "released":
                db.execute(
                    "INSERT OR REPLACE INTO released_content (content_key, released_at, workspace) VALUES (?,?,?)",
                    (image.content_key, now, image.workspace),
                )
            return image

    def released_content(self, content_key: str) -> bool:
        with self._database.reading() as db:
            return bool(db.execute("SELECT 1 FROM released_content WHERE content_key=?", (content_key,)).fetchone())

    def held_since(
        self,
        since: float,
        *,
        channel_ids: Collection[str] | None = None,
        limit: int = 50,
        workspace: str | None = None,
    ) -> list[HeldImage]:
        if channel_ids is not None and not channel_ids:
            return []
        where, args = "held_at >= ?", [since]
        workspace = workspace_or_current(workspace)
        if workspace != ALL_INSTALLS:
            where += " AND workspace=?"
            args.append(workspace)
        if channel_ids is not None:
            where += f" AND channel_id IN ({','.join('?' * len(channel_ids))})"
            args += list(channel_ids)
        with self._database.reading() as db:
            rows = db.execute(
                f"SELECT * FROM held_images WHERE {where} ORDER BY held_at DESC, file_id LIMIT ?", (*args, limit)
            ).fetchall()
        return [_image(row) for row in rows]

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        with self._database.transaction() as db:
            return drop_message_held(db, channel_id, message_ts)

    def forget_file(self, file_id: str) -> int:
        with self._database.transaction() as db:
            return drop_file_held(db, file_id)

    def purge(self, older_than: float) -> int:
        with self._database.transaction() as db:
            db.execute("DELETE FROM released_content WHERE released_at < ?", (older_than,))
            return db.execute("DELETE FROM held_images WHERE held_at < ?", (older_than,)).rowcount


# ---- helpers for deletions.py (inside its transaction) ----------------------------------------------------------


def drop_message_held(db: sqlite3.Connection, channel_id: str, message_ts: str) -> int:
    """The message's held records go (its content's release stays); returns how many."""
    return db.execute("DELETE FROM held_images WHERE channel_id=? AND message_ts=?", (channel_id, message_ts)).rowcount


def drop_file_held(db: sqlite3.Connection, file_id: str) -> int:
    return db.execute("DELETE FROM held_images WHERE file_id=?", (file_id,)).rowcount


def _read(db: sqlite3.Connection, channel_id: str, message_ts: str, file_id: str) -> HeldImage | None:
    row = db.execute(f"SELECT * FROM held_images WHERE {_KEY}", (channel_id, message_ts, file_id)).fetchone()
    return None if row is None else _image(row)


def _image(row: sqlite3.Row) -> HeldImage:
    return HeldImage(
        channel_id=row["channel_id"],
        message_ts=row["message_ts"],
        file_id=row["file_id"],
        user_id=row["user_id"],
        content_key=row["content_key"],
        categories=categories_from_json(row["categories_json"]),
        held_at=row["held_at"],
        notice_channel=row["notice_channel"],
        notice_ts=row["notice_ts"],
        decision=row["decision"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        workspace=row["workspace"],
    )
