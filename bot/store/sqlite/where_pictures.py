"""Show where's pictures on SQLite: a row per message whose picture was asked for (claimed, then posted with its
permalink), and the message's finished images read from messages.py's jobs. A claim is one transaction: the first
press inserts the row, a later one reads it."""

from __future__ import annotations

import json

from bot.store.encoding import result_from_dict
from bot.store.protocols import LabelledImage, PictureState
from bot.store.sqlite.database import SqliteDatabase

SCHEMA = """
-- "Show where" pictures, one per message: drawing (claimed_at: by whom is not kept) or posted (its permalink).
CREATE TABLE IF NOT EXISTS where_pictures (
    channel_id TEXT NOT NULL,
    message_ts TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('drawing', 'posted')),
    permalink TEXT NOT NULL DEFAULT '',
    claimed_at REAL NOT NULL,
    PRIMARY KEY (channel_id, message_ts)
);
CREATE INDEX IF NOT EXISTS where_pictures_by_age ON where_pictures (claimed_at);
"""


class SqliteWherePictures:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def labelled_images(self, channel_id: str, message_ts: str) -> list[LabelledImage]:
        with self._database.reading() as db:
            rows = db.execute(
                "SELECT j.file_json, j.result_json FROM jobs j JOIN messages m"
                " ON m.channel_id = j.channel_id AND m.message_ts = j.message_ts"
                " WHERE j.channel_id=? AND j.message_ts=? AND j.state='done' AND m.deleted_at IS NULL"
                " ORDER BY j.position",
                (channel_id, message_ts),
            ).fetchall()
        return [LabelledImage(json.loads(r["file_json"]), result_from_dict(json.loads(r["result_json"]))) for r in rows]

    def claim_picture(self, channel_id: str, message_ts: str, *, stale_before: float) -> tuple[PictureState, str]:
        key = (channel_id, message_ts)
        with self._database.transaction() as db:
            row = db.execute(
                "SELECT state, permalink, claimed_at FROM where_pictures WHERE channel_id=? AND message_ts=?", key
            ).fetchone()
            if row is not None and row["state"] == "posted":
                return "posted", row["permalink"]
            if row is not None and row["claimed_at"] >= stale_before:
                return "drawing", ""
            db.execute(
                "INSERT OR REPLACE INTO where_pictures (channel_id, message_ts, state, claimed_at)"
                " VALUES (?, ?, 'drawing', ?)",
                (*key, self._database.clock()),
            )
            return "claimed", ""

    def picture_posted(self, channel_id: str, message_ts: str, permalink: str) -> None:
        with self._database.transaction() as db:
            db.execute(
                "UPDATE where_pictures SET state='posted', permalink=? WHERE channel_id=? AND message_ts=?",
                (permalink, channel_id, message_ts),
            )

    def release_picture(self, channel_id: str, message_ts: str) -> None:
        with self._database.transaction() as db:
            db.execute(
                "DELETE FROM where_pictures WHERE channel_id=? AND message_ts=? AND state='drawing'",
                (channel_id, message_ts),
            )

    def purge_pictures(self, older_than: float) -> int:
        with self._database.transaction() as db:
            return db.execute("DELETE FROM where_pictures WHERE claimed_at < ?", (older_than,)).rowcount
