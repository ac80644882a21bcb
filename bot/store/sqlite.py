"""The embedded default store: one SQLite file (WAL), shared by the listener and the worker threads."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.config import ConfigError
from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides
from bot.store import (
    IndexedImage,
    Job,
    LabellingError,
    LabellingSummary,
    QueueStats,
    result_from_dict,
    result_to_dict,
)

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
CREATE TABLE IF NOT EXISTS messages (
    channel_id TEXT NOT NULL,
    message_ts TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    reply_state TEXT NOT NULL DEFAULT 'waiting',  -- waiting | posting | posted
    reply_ts TEXT,
    created_at REAL NOT NULL,
    user_id TEXT NOT NULL DEFAULT '',       -- who posted it
    channel_type TEXT NOT NULL DEFAULT '',  -- the event's: channel (public) | group (private) | im | mpim
    deleted_at REAL,                        -- deleted in Slack: its reply is deleted too
    reply_deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, message_ts)
);
CREATE INDEX IF NOT EXISTS messages_deleted ON messages (deleted_at)
    WHERE deleted_at IS NOT NULL AND reply_deleted = 0;
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id TEXT NOT NULL,
    message_ts TEXT NOT NULL,
    file_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    file_json TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',  -- queued | running | done
    attempts INTEGER NOT NULL DEFAULT 0,
    result_json TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (channel_id, message_ts, file_id)
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, id);
-- The tag index (/labels find): one row per labelled image. id orders rows by when the message was posted (its
-- ts in microseconds * 1000 + a slot for the message's other files), so newest-first needs no sort and `since`
-- and the retention purge are id ranges.
CREATE TABLE IF NOT EXISTS tagged_images (
    id INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL,
    channel_type TEXT NOT NULL,     -- channel (public) | group (private) | im | mpim | '' (unknown: private)
    message_ts TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    file_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    posted_at REAL NOT NULL,        -- the message ts as a number
    labels_json TEXT NOT NULL,      -- [{name, confidence, parents, aliases}], most confident first
    UNIQUE (channel_id, message_ts, file_id)
);
CREATE INDEX IF NOT EXISTS tagged_images_by_file ON tagged_images (file_id);
CREATE INDEX IF NOT EXISTS tagged_images_by_channel_type ON tagged_images (channel_id, channel_type);
-- Full text, rowid = tagged_images.id: every label's name, parents and aliases (porter stems, so "cats" finds
-- Cat) and the channel id, so one MATCH does word + channel and walks the rowids newest first.
CREATE VIRTUAL TABLE IF NOT EXISTS tag_words USING fts5(
    labels, channel, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE INDEX IF NOT EXISTS jobs_by_finish ON jobs (state, updated_at);  -- the App Home summary
"""


# Columns added after the first release: (name, SQL type). Older databases get them on open.
SETTINGS_COLUMNS_ADDED = (
    ("enabled", "INTEGER"),
    ("tags", "INTEGER"),
    ("include_labels", "TEXT"),
    ("exclude_labels", "TEXT"),
)


class SqliteStore:
    def __init__(self, path: Path | str, *, lock_wait_seconds: float = 20.0) -> None:
        path = str(path)
        if path != ":memory:" and not os.path.exists(path):
            # Created owner-only before SQLite opens it; its -wal and -shm files inherit the mode.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._process_lock = None if path == ":memory:" else _hold_process_lock(path + ".lock", lock_wait_seconds)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def enqueue_message(
        self,
        channel_id: str,
        message_ts: str,
        thread_ts: str,
        files: list[dict],
        *,
        user_id: str = "",
        channel_type: str = "",
    ) -> int:
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO messages (channel_id, message_ts, thread_ts, created_at, user_id, channel_type)"
                " VALUES (?,?,?,?,?,?)",
                (channel_id, message_ts, thread_ts, now, user_id, channel_type),
            )
            added = 0
            for position, file in enumerate(files):
                cursor = db.execute(
                    "INSERT OR IGNORE INTO jobs (channel_id, message_ts, file_id, position, file_json,"
                    " created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                    (channel_id, message_ts, file["id"], position, json.dumps(file), now, now),
                )
                added += cursor.rowcount
            return added

    def claim_job(self) -> Job | None:
        with self._transaction() as db:
            row = db.execute(
                "UPDATE jobs SET state='running', attempts=attempts+1, updated_at=?"
                " WHERE id = (SELECT id FROM jobs WHERE state='queued' ORDER BY id LIMIT 1)"
                " RETURNING id, channel_id, message_ts, file_json, attempts",
                (time.time(),),
            ).fetchone()
            if row is None:
                return None
            message = db.execute(
                "SELECT thread_ts, user_id, channel_type FROM messages WHERE channel_id=? AND message_ts=?",
                (row["channel_id"], row["message_ts"]),
            ).fetchone()
        return Job(
            id=row["id"],
            channel_id=row["channel_id"],
            message_ts=row["message_ts"],
            thread_ts=message["thread_ts"],
            file=json.loads(row["file_json"]),
            attempts=row["attempts"],
            user_id=message["user_id"],
            channel_type=message["channel_type"],
        )

    def finish_job(self, job_id: int, result: ImageResult) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state='done', result_json=?, updated_at=? WHERE id=?",
                (json.dumps(result_to_dict(result)), time.time(), job_id),
            )

    def claim_reply(self, channel_id: str, message_ts: str) -> tuple[str, list[ImageResult]] | None:
        key = (channel_id, message_ts)
        with self._transaction() as db:
            (unfinished,) = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE channel_id=? AND message_ts=? AND state!='done'", key
            ).fetchone()
            if unfinished:
                return None
            row = db.execute(
                "UPDATE messages SET reply_state='posting' WHERE channel_id=? AND message_ts=?"
                " AND reply_state='waiting' RETURNING thread_ts",
                key,
            ).fetchone()
            if row is None:
                return None
            results = db.execute(
                "SELECT result_json FROM jobs WHERE channel_id=? AND message_ts=? ORDER BY position", key
            ).fetchall()
        return row["thread_ts"], [result_from_dict(json.loads(r["result_json"])) for r in results]

    def mark_replied(self, channel_id: str, message_ts: str, reply_ts: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET reply_state='posted', reply_ts=? WHERE channel_id=? AND message_ts=?",
                (reply_ts, channel_id, message_ts),
            )

    def release_reply(self, channel_id: str, message_ts: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET reply_state='waiting' WHERE channel_id=? AND message_ts=?"
                " AND reply_state='posting'",
                (channel_id, message_ts),
            )

    def requeue_interrupted(self) -> int:
        with self._transaction() as db:
            requeued = db.execute("UPDATE jobs SET state='queued' WHERE state='running'").rowcount
            db.execute("UPDATE messages SET reply_state='waiting' WHERE reply_state='posting'")
        return requeued

    def messages_ready_to_reply(self) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT channel_id, message_ts FROM messages m WHERE reply_state='waiting' AND NOT EXISTS"
                " (SELECT 1 FROM jobs j WHERE j.channel_id=m.channel_id AND j.message_ts=m.message_ts"
                " AND j.state!='done')"
            ).fetchall()
        return [(r["channel_id"], r["message_ts"]) for r in rows]

    def queue_stats(self) -> QueueStats:
        with self._lock:
            depth, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM jobs WHERE state!='done'"
            ).fetchone()
        return QueueStats(depth=depth, oldest_age_seconds=0.0 if oldest is None else time.time() - oldest)

    def labelling_summary(self, since: float, *, top_labels: int = 10, recent_errors: int = 10) -> LabellingSummary:
        # A done job's updated_at is when it finished; result_json holds its labels or its short error.
        finished = "jobs.state='done' AND jobs.updated_at >= ? AND jobs.result_json IS NOT NULL"
        error = "json_extract(jobs.result_json, '$.error')"
        skipped = "COALESCE(json_extract(jobs.result_json, '$.skipped'), 0)"
        with self._lock:
            labelled, failed = self._db.execute(
                f"SELECT COUNT(*) FILTER (WHERE {error} IS NULL AND NOT {skipped}),"
                f" COUNT(*) FILTER (WHERE {error} IS NOT NULL) FROM jobs WHERE {finished}",
                (since,),
            ).fetchone()
            top = self._db.execute(
                "SELECT json_extract(label.value, '$.name') AS name, COUNT(DISTINCT jobs.id) AS images"
                f" FROM jobs, json_each(jobs.result_json, '$.labels') AS label WHERE {finished}"
                " GROUP BY name ORDER BY images DESC, name LIMIT ?",
                (since, top_labels),
            ).fetchall()
            errors = self._db.execute(
                "SELECT jobs.updated_at, jobs.channel_id, json_extract(jobs.result_json, '$.file_name') AS file_name,"
                f" {error} AS reason FROM jobs WHERE {finished} AND {error} IS NOT NULL"
                " ORDER BY jobs.updated_at DESC, jobs.id DESC LIMIT ?",
                (since, recent_errors),
            ).fetchall()
        return LabellingSummary(
            images_labelled=labelled,
            images_failed=failed,
            top_labels=tuple((r["name"], r["images"]) for r in top if r["name"]),
            recent_errors=tuple(
                LabellingError(r["updated_at"], r["channel_id"], r["file_name"] or "", r["reason"]) for r in errors
            ),
        )

    def get_overrides(self, channel_id: str) -> ChannelOverrides:
        with self._lock:
            row = self._db.execute(
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

    def save_overrides(self, channel_id: str, overrides: ChannelOverrides) -> None:
        def as_json(values: tuple[str, ...] | None) -> str | None:
            return None if values is None else json.dumps(list(values))

        with self._transaction() as db:
            db.execute(
                "INSERT INTO channel_settings (channel_id, threshold, max_labels, enabled, tags, include_labels,"
                " exclude_labels, updated_at) VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT (channel_id) DO UPDATE SET threshold=excluded.threshold,"
                " max_labels=excluded.max_labels, enabled=excluded.enabled, tags=excluded.tags,"
                " include_labels=excluded.include_labels, exclude_labels=excluded.exclude_labels,"
                " updated_at=excluded.updated_at",
                (
                    channel_id,
                    overrides.threshold,
                    overrides.max_labels,
                    overrides.enabled,
                    overrides.tags,
                    as_json(overrides.include),
                    as_json(overrides.exclude),
                    time.time(),
                ),
            )

    # ---- the tag index -------------------------------------------------------------------------------------

    def index_images(self, images: list[IndexedImage]) -> int:
        added = 0
        with self._transaction() as db:
            for image in images:
                key = (image.channel_id, image.message_ts)
                if db.execute(
                    "SELECT 1 FROM messages WHERE channel_id=? AND message_ts=? AND deleted_at IS NOT NULL", key
                ).fetchone():
                    continue  # deleted while it was being labelled
                row = db.execute(
                    "SELECT id FROM tagged_images WHERE channel_id=? AND message_ts=? AND file_id=?",
                    (*key, image.file_id),
                ).fetchone()
                if row is None:
                    image_id = _free_index_id(db, image.message_ts)
                else:
                    image_id = row["id"]
                    db.execute("DELETE FROM tag_words WHERE rowid=?", (image_id,))
                labels = sorted(image.labels, key=lambda label: label.confidence, reverse=True)
                db.execute(
                    "INSERT OR REPLACE INTO tagged_images (id, channel_id, channel_type, message_ts, thread_ts,"
                    " file_id, user_id, posted_at, labels_json) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        image_id,
                        image.channel_id,
                        image.channel_type,
                        image.message_ts,
                        image.thread_ts,
                        image.file_id,
                        image.user_id,
                        image.posted_at,
                        json.dumps([_label_to_dict(label) for label in labels]),
                    ),
                )
                db.execute(
                    "INSERT INTO tag_words (rowid, labels, channel) VALUES (?,?,?)",
                    (image_id, _label_words(labels), image.channel_id),
                )
                added += 1
        return added

    def search_images(
        self, words: tuple[str, ...], *, channel_id: str | None, since: float | None = None, limit: int = 10
    ) -> list[IndexedImage]:
        if not words:
            return []
        query = "labels : (" + " AND ".join(_fts_string(word) for word in words) + ")"
        if channel_id is not None:
            query += " AND channel : " + _fts_string(channel_id)
        lowest = 0 if since is None else int(since * 1_000_000) * ID_SLOTS
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tagged_images WHERE id IN (SELECT rowid FROM tag_words WHERE tag_words MATCH ?"
                " AND rowid >= ? ORDER BY rowid DESC LIMIT ?) ORDER BY id DESC",
                (query, lowest, limit),
            ).fetchall()
        return [
            IndexedImage(
                channel_id=r["channel_id"],
                channel_type=r["channel_type"],
                message_ts=r["message_ts"],
                thread_ts=r["thread_ts"],
                file_id=r["file_id"],
                user_id=r["user_id"],
                labels=tuple(_label_from_dict(x) for x in json.loads(r["labels_json"])),
            )
            for r in rows
        ]

    def channel_is_public(self, channel_id: str) -> bool:
        with self._lock:
            (public,) = self._db.execute(
                # Two index ranges (types sorting before and after 'channel'), not a scan of the channel's rows.
                "SELECT EXISTS (SELECT 1 FROM tagged_images WHERE channel_id=?)"
                " AND NOT EXISTS (SELECT 1 FROM tagged_images WHERE channel_id=? AND channel_type < 'channel')"
                " AND NOT EXISTS (SELECT 1 FROM tagged_images WHERE channel_id=? AND channel_type > 'channel')",
                (channel_id, channel_id, channel_id),
            ).fetchone()
        return bool(public)

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        key = (channel_id, message_ts)
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM tagged_images WHERE channel_id=? AND message_ts=?", key)]
            _drop_index_rows(db, ids)
            db.execute(
                "UPDATE messages SET deleted_at=? WHERE channel_id=? AND message_ts=? AND deleted_at IS NULL",
                (time.time(), *key),
            )
        return len(ids)

    def forget_file(self, file_id: str) -> int:
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM tagged_images WHERE file_id=?", (file_id,))]
            _drop_index_rows(db, ids)
        return len(ids)

    def replies_to_delete(self) -> list[tuple[str, str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT channel_id, message_ts, reply_ts FROM messages WHERE deleted_at IS NOT NULL"
                " AND reply_deleted = 0 AND reply_state='posted' AND COALESCE(reply_ts, '') != ''"
            ).fetchall()
        return [(r["channel_id"], r["message_ts"], r["reply_ts"]) for r in rows]

    def mark_reply_deleted(self, channel_id: str, message_ts: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET reply_deleted=1 WHERE channel_id=? AND message_ts=?", (channel_id, message_ts)
            )

    def purge_index(self, older_than: float, *, batch: int = 1000) -> int:
        """In batches, so the listener's writes never wait long behind a big first purge."""
        below = int(older_than * 1_000_000) * ID_SLOTS
        purged = 0
        while True:
            with self._transaction() as db:
                rows = db.execute("SELECT id FROM tagged_images WHERE id < ? LIMIT ?", (below, batch)).fetchall()
                ids = [r["id"] for r in rows]
                _drop_index_rows(db, ids)
            purged += len(ids)
            if len(ids) < batch:
                return purged

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._process_lock is not None:
            os.close(self._process_lock)  # releases the flock
            self._process_lock = None


ID_SLOTS = 1000  # tagged_images ids per microsecond of message ts: a message's files (and a same-µs twin)


def _free_index_id(db: sqlite3.Connection, message_ts: str) -> int:
    seconds, _, fraction = message_ts.partition(".")
    first = (int(seconds) * 1_000_000 + int((fraction + "000000")[:6])) * ID_SLOTS
    (highest,) = db.execute(
        "SELECT MAX(id) FROM tagged_images WHERE id BETWEEN ? AND ?", (first, first + ID_SLOTS - 1)
    ).fetchone()
    if highest is None:
        return first
    if highest + 1 >= first + ID_SLOTS:
        raise ValueError(f"more than {ID_SLOTS} images indexed for message ts {message_ts}")
    return highest + 1


def _drop_index_rows(db: sqlite3.Connection, ids: list[int]) -> None:
    db.executemany("DELETE FROM tag_words WHERE rowid=?", [(i,) for i in ids])
    db.executemany("DELETE FROM tagged_images WHERE id=?", [(i,) for i in ids])


def _label_words(labels: list[Label] | tuple[Label, ...]) -> str:
    """What the full-text index knows of an image: each label's name, parents and aliases."""
    names = dict.fromkeys(name for label in labels for name in (label.name, *label.parents, *label.aliases))
    return "\n".join(names)


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _label_to_dict(label: Label) -> dict:
    return {
        "name": label.name,
        "confidence": label.confidence,
        "parents": list(label.parents),
        "aliases": list(label.aliases),
    }


def _label_from_dict(data: dict) -> Label:
    return Label(data["name"], data["confidence"], tuple(data.get("parents", ())), tuple(data.get("aliases", ())))


def _hold_process_lock(path: str, wait_seconds: float) -> int:
    """One labelbot process per database: a second one would requeue the first one's running jobs.

    Waits a while, so a restarting process (a gunicorn reload, a redeploy) can take over from a draining one.
    """
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise ConfigError(
                    f"LABELBOT_DB {path[: -len('.lock')]!r} is in use by another labelbot process; "
                    "give each process its own database"
                ) from None
            time.sleep(0.2)
