"""Show where's pictures on SQLite: a row per message whose picture was asked for (claimed, then posted with its
permalink), a row per file uploaded for one of its images (kept until that image is deleted in Slack), the uploaded
files queued for deletion, and the message's finished images read from messages.py's jobs. A claim is one
transaction: the first press inserts the row, a later one reads it. deletions.py queues a deleted image's uploads
in its own transaction (queue_message_uploads, queue_file_uploads)."""

from __future__ import annotations

import json
import sqlite3

from bot.install_context import current_or_one
from bot.store.encoding import result_from_dict
from bot.store.protocols import LabelledImage, PictureFile, PictureState
from bot.store.sqlite import messages
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
-- The file uploaded for each image of a posted picture: deleted when the image is.
CREATE TABLE IF NOT EXISTS where_picture_uploads (
    upload_id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    message_ts TEXT NOT NULL,
    image_file_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS where_picture_uploads_by_message ON where_picture_uploads (channel_id, message_ts);
CREATE INDEX IF NOT EXISTS where_picture_uploads_by_image ON where_picture_uploads (image_file_id);
-- Uploaded files whose image was deleted in Slack, until files.delete takes them (the sweep).
CREATE TABLE IF NOT EXISTS where_picture_deletions (
    upload_id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    queued_at REAL NOT NULL
);
"""


# The install that drew a picture and uploaded its files (the one whose Show where was pressed): an uninstall deletes
# its records, and its token deletes an upload (PictureFile.workspace). Kept on each row: the messages row it was
# drawn from may be purged before the picture goes.
COLUMNS_ADDED = {
    table: (("workspace", "TEXT NOT NULL DEFAULT ''"),)
    for table in ("where_pictures", "where_picture_uploads", "where_picture_deletions")
}


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
                "INSERT OR REPLACE INTO where_pictures (channel_id, message_ts, state, claimed_at, workspace)"
                " VALUES (?, ?, 'drawing', ?, ?)",
                (*key, self._database.clock(), current_or_one()),
            )
            return "claimed", ""

    def picture_posted(self, channel_id: str, message_ts: str, permalink: str, uploads: dict[str, str]) -> None:
        with self._database.transaction() as db:
            db.execute(
                "UPDATE where_pictures SET state='posted', permalink=? WHERE channel_id=? AND message_ts=?",
                (permalink, channel_id, message_ts),
            )
            db.executemany(
                "INSERT OR REPLACE INTO where_picture_uploads (upload_id, channel_id, message_ts, image_file_id,"
                " workspace) VALUES (?,?,?,?,?)",
                [(upload, channel_id, message_ts, image, current_or_one()) for image, upload in uploads.items()],
            )
            # An image deleted (or its message) while the picture was being made: its upload goes at once.
            for image, upload in uploads.items():
                if messages.was_deleted(db, channel_id, message_ts, image):
                    db.execute(
                        "INSERT OR IGNORE INTO where_picture_deletions (upload_id, channel_id, queued_at, workspace)"
                        " SELECT u.upload_id, u.channel_id, ?, u.workspace FROM where_picture_uploads u"
                        " WHERE u.upload_id=?",
                        (self._database.clock(), upload),
                    )
                    db.execute("DELETE FROM where_picture_uploads WHERE upload_id=?", (upload,))

    def picture_files_to_delete(self) -> list[PictureFile]:
        with self._database.reading() as db:
            rows = db.execute(
                "SELECT upload_id, channel_id, workspace FROM where_picture_deletions ORDER BY queued_at, upload_id"
            ).fetchall()
        return [PictureFile(row["upload_id"], row["channel_id"], row["workspace"]) for row in rows]

    def picture_file_deleted(self, file_id: str) -> None:
        with self._database.transaction() as db:
            db.execute("DELETE FROM where_picture_deletions WHERE upload_id=?", (file_id,))

    def release_picture(self, channel_id: str, message_ts: str) -> None:
        with self._database.transaction() as db:
            db.execute(
                "DELETE FROM where_pictures WHERE channel_id=? AND message_ts=? AND state='drawing'",
                (channel_id, message_ts),
            )

    def purge_pictures(self, older_than: float) -> int:
        with self._database.transaction() as db:
            return db.execute(
                "DELETE FROM where_pictures WHERE claimed_at < ? AND state='drawing'", (older_than,)
            ).rowcount


def queue_message_uploads(db: sqlite3.Connection, channel_id: str, message_ts: str, now: float) -> None:
    """The message was deleted: every file uploaded for its images is queued for deletion, and its picture forgotten
    (a press now finds nothing to show)."""
    db.execute(
        "INSERT OR IGNORE INTO where_picture_deletions (upload_id, channel_id, queued_at, workspace)"
        " SELECT u.upload_id, u.channel_id, ?, u.workspace FROM where_picture_uploads u"
        " WHERE u.channel_id=? AND u.message_ts=?",
        (now, channel_id, message_ts),
    )
    db.execute("DELETE FROM where_picture_uploads WHERE channel_id=? AND message_ts=?", (channel_id, message_ts))
    db.execute("DELETE FROM where_pictures WHERE channel_id=? AND message_ts=?", (channel_id, message_ts))


def queue_file_uploads(db: sqlite3.Connection, image_file_id: str, now: float) -> None:
    """The image's file was deleted: the files uploaded for it are queued for deletion. Its message's picture record
    stays for the message's other images (its permalink may now be to a deleted file: it is cleared)."""
    messages = db.execute(
        "SELECT DISTINCT channel_id, message_ts FROM where_picture_uploads WHERE image_file_id=?", (image_file_id,)
    ).fetchall()
    db.execute(
        "INSERT OR IGNORE INTO where_picture_deletions (upload_id, channel_id, queued_at, workspace)"
        " SELECT u.upload_id, u.channel_id, ?, u.workspace FROM where_picture_uploads u"
        " WHERE u.image_file_id=?",
        (now, image_file_id),
    )
    db.execute("DELETE FROM where_picture_uploads WHERE image_file_id=?", (image_file_id,))
    for message in messages:
        db.execute(
            "UPDATE where_pictures SET permalink='' WHERE channel_id=? AND message_ts=?",
            (message["channel_id"], message["message_ts"]),
        )
