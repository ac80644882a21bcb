"""The embedded default store: one SQLite file (WAL), shared by the threads and processes of one bot."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.config import ConfigError
from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides
from bot.store import (
    TAG_TOKENIZER,
    IndexedImage,
    Job,
    LabellingError,
    LabellingSummary,
    QueueStats,
    label_from_dict,
    label_names,
    label_to_dict,
    result_from_dict,
    result_to_dict,
    ts_microseconds,
)

SCHEMA = f"""
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
    -- 1: a process died while posting its reply, so the reply may be in the thread already: look before posting
    reply_interrupted INTEGER NOT NULL DEFAULT 0,
    posting_since REAL,                     -- when its reply was claimed for posting (requeue_stalled)
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
    channel_type TEXT NOT NULL,     -- channel (public) | group (private) | im | mpim | '' (unknown: find asks Slack)
    message_ts TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    file_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    posted_at REAL NOT NULL,        -- the message ts as a number
    labels_json TEXT NOT NULL,      -- [{{name, confidence, parents, aliases}}], most confident first
    UNIQUE (channel_id, message_ts, file_id)
);
CREATE INDEX IF NOT EXISTS tagged_images_by_file ON tagged_images (file_id);
CREATE INDEX IF NOT EXISTS tagged_images_by_channel_type ON tagged_images (channel_id, channel_type);
-- Full text, rowid = tagged_images.id: every label's name, parents and aliases (porter stems, so "cats" finds
-- Cat) and the channel id, so one MATCH does word + channel and walks the rowids newest first.
CREATE VIRTUAL TABLE IF NOT EXISTS tag_words USING fts5(
    labels, channel, tokenize = '{TAG_TOKENIZER}'
);
CREATE INDEX IF NOT EXISTS jobs_by_finish ON jobs (state, updated_at);  -- the App Home summary
-- Deletions in Slack: a file deleted while its job runs is not indexed afterwards; its jobs go.
CREATE TABLE IF NOT EXISTS deleted_files (
    file_id TEXT PRIMARY KEY,
    deleted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_file ON jobs (file_id);
-- Rekognition's answers by content: sha256 of the prepared image and the request parameters -> labels, so a
-- re-posted or cross-posted image costs no second call. Purged by age (the upkeep).
CREATE TABLE IF NOT EXISTS label_cache (
    cache_key TEXT PRIMARY KEY,
    labels_json TEXT NOT NULL,     -- [{{name, confidence, parents, aliases}}] as Rekognition answered
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS label_cache_by_age ON label_cache (created_at);
-- Per-channel reply order: a message's earlier unsettled neighbours in its channel.
CREATE INDEX IF NOT EXISTS messages_by_channel_state ON messages (channel_id, reply_state, message_ts);
"""


# channel_settings' columns -> the ChannelOverrides field each holds
SETTINGS_COLUMNS = {
    "threshold": "threshold",
    "max_labels": "max_labels",
    "enabled": "enabled",
    "tags": "tags",
    "include_labels": "include",
    "exclude_labels": "exclude",
}

# Columns added after a table first shipped: (name, SQL type). Older databases get them on open.
SETTINGS_COLUMNS_ADDED = (
    ("enabled", "INTEGER"),
    ("tags", "INTEGER"),
    ("include_labels", "TEXT"),
    ("exclude_labels", "TEXT"),
)
MESSAGES_COLUMNS_ADDED = (("reply_interrupted", "INTEGER NOT NULL DEFAULT 0"), ("posting_since", "REAL"))


class SqliteStore:
    def __init__(
        self,
        path: Path | str,
        *,
        exclusive: bool = True,
        lock_wait_seconds: float = 20.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """exclusive: this process works on the queue and holds the database's process lock (waiting up to
        lock_wait_seconds for it); the process that only answers Slack's acks beside it opens the file shared.
        clock: the time records are stamped with (tests move it)."""
        self._clock = clock
        path = str(path)
        if path != ":memory:" and not os.path.exists(path):
            # Created owner-only before SQLite opens it; its -wal and -shm files inherit the mode.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._process_lock = None
        if exclusive and path != ":memory:":
            self._process_lock = _hold_process_lock(path + ".lock", lock_wait_seconds)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        _add_missing_columns(self._db, "channel_settings", SETTINGS_COLUMNS_ADDED)
        _add_missing_columns(self._db, "messages", MESSAGES_COLUMNS_ADDED)

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
        refused: str | None = None,
    ) -> int:
        now = self._clock()
        state = "queued" if refused is None else "done"
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO messages (channel_id, message_ts, thread_ts, created_at, user_id, channel_type)"
                " VALUES (?,?,?,?,?,?)",
                (channel_id, message_ts, thread_ts, now, user_id, channel_type),
            )
            added = 0
            for position, file in enumerate(files):
                result = None
                if refused is not None:  # done already, with the reason as its error: the reply says it, once
                    name = str(file.get("name") or file.get("title") or file["id"])
                    result = json.dumps(result_to_dict(ImageResult(file["id"], name, error=refused)))
                cursor = db.execute(
                    "INSERT OR IGNORE INTO jobs (channel_id, message_ts, file_id, position, file_json, state,"
                    " result_json, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (channel_id, message_ts, file["id"], position, json.dumps(file), state, result, now, now),
                )
                added += cursor.rowcount
            return added

    def claim_job(self) -> Job | None:
        with self._transaction() as db:
            jobs = _take_jobs(
                db, "id = (SELECT id FROM jobs WHERE state='queued' ORDER BY id LIMIT 1)", (), self._clock()
            )
        return jobs[0] if jobs else None

    def claim_message_jobs(self, channel_id: str, message_ts: str) -> list[Job]:
        with self._transaction() as db:
            return _take_jobs(
                db, "channel_id=? AND message_ts=? AND state='queued'", (channel_id, message_ts), self._clock()
            )

    def finish_job(self, job_id: int | str, result: ImageResult) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state='done', result_json=?, updated_at=? WHERE id=?",
                (json.dumps(result_to_dict(result)), self._clock(), job_id),
            )

    def claim_reply(
        self, channel_id: str, message_ts: str, *, after_earlier_since: float | None = None
    ) -> tuple[str, list[ImageResult]] | None:
        key = (channel_id, message_ts)
        with self._transaction() as db:
            (unfinished,) = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE channel_id=? AND message_ts=? AND state!='done'", key
            ).fetchone()
            if unfinished:
                return None
            if (
                after_earlier_since is not None
                and db.execute(
                    # An earlier message of the channel, recorded since then, whose reply is not settled yet: it goes
                    # first (its poster then posts this one).
                    "SELECT 1 FROM messages WHERE channel_id=? AND reply_state!='posted' AND message_ts < ?"
                    " AND deleted_at IS NULL AND created_at >= ? LIMIT 1",
                    (channel_id, message_ts, after_earlier_since),
                ).fetchone()
            ):
                return None
            row = db.execute(
                "UPDATE messages SET reply_state='posting', posting_since=? WHERE channel_id=? AND message_ts=?"
                " AND reply_state='waiting' AND deleted_at IS NULL RETURNING thread_ts",  # deleted: no reply
                (self._clock(), *key),
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

    def release_reply(self, channel_id: str, message_ts: str, *, maybe_posted: bool = False) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET reply_state='waiting', reply_interrupted=MAX(reply_interrupted, ?)"
                " WHERE channel_id=? AND message_ts=? AND reply_state='posting'",
                (int(maybe_posted), channel_id, message_ts),
            )

    def requeue_interrupted(self) -> int:
        return self.requeue_stalled(float("inf"))

    def requeue_stalled(self, older_than: float) -> int:
        with self._transaction() as db:
            # A running job's updated_at is when it was claimed.
            requeued = db.execute(
                "UPDATE jobs SET state='queued' WHERE state='running' AND updated_at < ?", (older_than,)
            ).rowcount
            # Its post may have reached Slack before the process died: the next try looks in the thread first.
            db.execute(
                "UPDATE messages SET reply_state='waiting', reply_interrupted=1"
                " WHERE reply_state='posting' AND COALESCE(posting_since, 0) < ?",  # NULL: claimed before the column
                (older_than,),
            )
        return requeued

    def reply_interrupted(self, channel_id: str, message_ts: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT reply_interrupted FROM messages WHERE channel_id=? AND message_ts=?", (channel_id, message_ts)
            ).fetchone()
        return bool(row and row["reply_interrupted"])

    def messages_ready_to_reply(self) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT channel_id, message_ts FROM messages m WHERE reply_state='waiting' AND deleted_at IS NULL"
                " AND NOT EXISTS"
                " (SELECT 1 FROM jobs j WHERE j.channel_id=m.channel_id AND j.message_ts=m.message_ts"
                " AND j.state!='done') ORDER BY channel_id, message_ts"
            ).fetchall()
        return [(r["channel_id"], r["message_ts"]) for r in rows]

    def next_waiting_reply(self, channel_id: str, after_ts: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT message_ts FROM messages WHERE channel_id=? AND reply_state='waiting' AND message_ts > ?"
                " AND deleted_at IS NULL ORDER BY message_ts LIMIT 1",
                (channel_id, after_ts),
            ).fetchone()
        return None if row is None else row["message_ts"]

    # ---- the label cache -----------------------------------------------------------------------------------

    def cached_labels(self, cache_key: str, *, newer_than: float) -> tuple[Label, ...] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT labels_json FROM label_cache WHERE cache_key=? AND created_at >= ?", (cache_key, newer_than)
            ).fetchone()
        return None if row is None else tuple(label_from_dict(x) for x in json.loads(row["labels_json"]))

    def cache_labels(self, cache_key: str, labels: tuple[Label, ...]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO label_cache (cache_key, labels_json, created_at) VALUES (?,?,?)",
                (cache_key, json.dumps([label_to_dict(label) for label in labels]), self._clock()),
            )

    def purge_label_cache(self, older_than: float) -> int:
        with self._transaction() as db:
            return db.execute("DELETE FROM label_cache WHERE created_at < ?", (older_than,)).rowcount

    def queue_stats(self) -> QueueStats:
        with self._lock:
            depth, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM jobs WHERE state IN ('queued', 'running')"  # the index
            ).fetchone()
        return QueueStats(depth=depth, oldest_age_seconds=0.0 if oldest is None else self._clock() - oldest)

    def labelling_summary(
        self,
        since: float,
        *,
        top_labels: int = 10,
        recent_errors: int = 10,
        channel_ids: Collection[str] | None = None,
    ) -> LabellingSummary:
        # A done job's updated_at is when it finished; result_json holds its labels or its short error.
        finished = (
            "jobs.state='done' AND jobs.updated_at >= ? AND jobs.result_json IS NOT NULL"
            " AND (? IS NULL OR jobs.channel_id IN (SELECT value FROM json_each(?)))"
        )
        channels = None if channel_ids is None else json.dumps(sorted(channel_ids))
        scope = (since, channels, channels)
        error = "json_extract(jobs.result_json, '$.error')"
        skipped = "COALESCE(json_extract(jobs.result_json, '$.skipped'), 0)"
        with self._lock:
            labelled, failed = self._db.execute(
                f"SELECT COUNT(*) FILTER (WHERE {error} IS NULL AND NOT {skipped}),"
                f" COUNT(*) FILTER (WHERE {error} IS NOT NULL) FROM jobs WHERE {finished}",
                scope,
            ).fetchone()
            top = self._db.execute(
                "SELECT json_extract(label.value, '$.name') AS name, COUNT(DISTINCT jobs.id) AS images"
                f" FROM jobs, json_each(jobs.result_json, '$.labels') AS label WHERE {finished}"
                " GROUP BY name ORDER BY images DESC, name LIMIT ?",
                (*scope, top_labels),
            ).fetchall()
            errors = self._db.execute(
                "SELECT jobs.updated_at, jobs.channel_id, json_extract(jobs.result_json, '$.file_name') AS file_name,"
                f" {error} AS reason FROM jobs WHERE {finished} AND {error} IS NOT NULL"
                " ORDER BY jobs.updated_at DESC, jobs.id DESC LIMIT ?",
                (*scope, recent_errors),
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
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO channel_settings (channel_id, {', '.join(values)}, updated_at) VALUES (?,?,?,?,?,?,?,?)"
                f" ON CONFLICT (channel_id) DO UPDATE SET updated_at=excluded.updated_at{updates}",
                (channel_id, *values.values(), self._clock()),
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
                if db.execute("SELECT 1 FROM deleted_files WHERE file_id=?", (image.file_id,)).fetchone():
                    continue  # the file, likewise
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
                        json.dumps([label_to_dict(label) for label in labels]),
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
        lowest = 0 if since is None else int(since * 1_000_000) * ID_SLOTS
        same_channel, channel_params = "", ()
        if channel_id is not None:
            # The channel term narrows the full-text walk, but the stemmer can fold two ids into one term
            # (C0ABCDEY and C0ABCDEI both become c0abcdei), so the row's own channel decides. (`+`: no index on
            # it, so the walk stays newest first over the full-text matches.)
            query += " AND channel : " + _fts_string(channel_id)
            same_channel, channel_params = " AND +t.channel_id = ?", (channel_id,)
        params = (query, lowest, *channel_params)
        with self._lock:
            rows = self._db.execute(
                # highlight() marks the label names the words matched, with the index's own stemming.
                "SELECT t.*, highlight(tag_words, 0, char(1), char(2)) AS marked"
                " FROM tag_words JOIN tagged_images t ON t.id = tag_words.rowid"
                f" WHERE tag_words MATCH ? AND tag_words.rowid >= ?{same_channel}"
                " ORDER BY tag_words.rowid DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [
            IndexedImage(
                channel_id=r["channel_id"],
                channel_type=r["channel_type"],
                message_ts=r["message_ts"],
                thread_ts=r["thread_ts"],
                file_id=r["file_id"],
                user_id=r["user_id"],
                labels=tuple(label_from_dict(x) for x in json.loads(r["labels_json"])),
                matched=_marked_names(r["marked"]),
            )
            for r in rows
        ]

    def channel_is_public(self, channel_id: str) -> bool:
        with self._lock:
            (public,) = self._db.execute(
                # An index range, not a scan of the channel's rows: group, im and mpim sort after 'channel'; ''
                # (Slack didn't say) before it, and is settled by the caller's live check.
                "SELECT EXISTS (SELECT 1 FROM tagged_images WHERE channel_id=?)"
                " AND NOT EXISTS (SELECT 1 FROM tagged_images WHERE channel_id=? AND channel_type > 'channel')",
                (channel_id, channel_id),
            ).fetchone()
        return bool(public)

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        key = (channel_id, message_ts)
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM tagged_images WHERE channel_id=? AND message_ts=?", key)]
            _drop_index_rows(db, ids)
            # Its jobs hold labels and file names: they go too (a running one's finish_job then updates nothing).
            db.execute("DELETE FROM jobs WHERE channel_id=? AND message_ts=?", key)
            _mark_message_deleted(db, *key, self._clock())
        return len(ids)

    def forget_file(self, file_id: str) -> int:
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM tagged_images WHERE file_id=?", (file_id,))]
            _drop_index_rows(db, ids)
            db.execute(
                "INSERT OR IGNORE INTO deleted_files (file_id, deleted_at) VALUES (?,?)", (file_id, self._clock())
            )
            messages = {
                (r["channel_id"], r["message_ts"])
                for r in db.execute("DELETE FROM jobs WHERE file_id=? RETURNING channel_id, message_ts", (file_id,))
            }
            for channel_id, message_ts in messages:
                (images_left,) = db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE channel_id=? AND message_ts=?"
                    " AND NOT COALESCE(json_extract(result_json, '$.skipped'), 0)",
                    (channel_id, message_ts),
                ).fetchone()
                if not images_left:  # the reply was about nothing that is left: it goes too
                    _mark_message_deleted(db, channel_id, message_ts, self._clock())
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
                with self._transaction() as db:  # no job of a file deleted that long ago is still running
                    db.execute("DELETE FROM deleted_files WHERE deleted_at < ?", (older_than,))
                return purged

    def purge_finished_jobs(self, older_than: float, *, batch: int = 1000) -> int:
        """Retention for the jobs too: their results hold labels, file names and errors. A message whose jobs are
        all gone and whose reply is settled goes as well (a later "Label this image" on it labels it afresh)."""
        purged = 0
        while True:
            with self._transaction() as db:
                deleted = db.execute(
                    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state='done' AND updated_at < ? LIMIT ?)",
                    (older_than, batch),
                ).rowcount
            purged += deleted
            if deleted < batch:
                break
        with self._transaction() as db:
            db.execute(
                "DELETE FROM messages WHERE created_at < ? AND reply_state='posted'"
                " AND (deleted_at IS NULL OR reply_deleted=1) AND NOT EXISTS (SELECT 1 FROM jobs j"
                " WHERE j.channel_id=messages.channel_id AND j.message_ts=messages.message_ts)",
                (older_than,),
            )
        return purged

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._process_lock is not None:
            os.close(self._process_lock)  # releases the flock
            self._process_lock = None


def _take_jobs(db: sqlite3.Connection, which: str, params: tuple, now: float) -> list[Job]:
    """Mark the queued jobs `which` selects running and return them, in post order."""
    rows = db.execute(
        f"UPDATE jobs SET state='running', attempts=attempts+1, updated_at=? WHERE {which}"
        " RETURNING id, channel_id, message_ts, position, file_json, attempts",
        (now, *params),
    ).fetchall()
    jobs = []
    for row in sorted(rows, key=lambda r: (r["position"], r["id"])):
        message = db.execute(
            "SELECT thread_ts, user_id, channel_type FROM messages WHERE channel_id=? AND message_ts=?",
            (row["channel_id"], row["message_ts"]),
        ).fetchone()
        jobs.append(
            Job(
                id=row["id"],
                channel_id=row["channel_id"],
                message_ts=row["message_ts"],
                thread_ts=message["thread_ts"],
                file=json.loads(row["file_json"]),
                attempts=row["attempts"],
                user_id=message["user_id"],
                channel_type=message["channel_type"],
            )
        )
    return jobs


def _add_missing_columns(db: sqlite3.Connection, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
    for name, sql_type in columns:
        if name not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")


ID_SLOTS = 1000  # tagged_images ids per microsecond of message ts: a message's files (and a same-µs twin)


def _free_index_id(db: sqlite3.Connection, message_ts: str) -> int:
    first = ts_microseconds(message_ts) * ID_SLOTS
    (highest,) = db.execute(
        "SELECT MAX(id) FROM tagged_images WHERE id BETWEEN ? AND ?", (first, first + ID_SLOTS - 1)
    ).fetchone()
    if highest is None:
        return first
    if highest + 1 >= first + ID_SLOTS:
        raise ValueError(f"more than {ID_SLOTS} images indexed for message ts {message_ts}")
    return highest + 1


def _mark_message_deleted(db: sqlite3.Connection, channel_id: str, message_ts: str, now: float) -> None:
    """No reply is posted for it any more, and the reply sweep deletes one already posted."""
    db.execute(
        "UPDATE messages SET deleted_at=? WHERE channel_id=? AND message_ts=? AND deleted_at IS NULL",
        (now, channel_id, message_ts),
    )


def _drop_index_rows(db: sqlite3.Connection, ids: list[int]) -> None:
    db.executemany("DELETE FROM tag_words WHERE rowid=?", [(i,) for i in ids])
    db.executemany("DELETE FROM tagged_images WHERE id=?", [(i,) for i in ids])


def _label_words(labels: list[Label] | tuple[Label, ...]) -> str:
    """What the full-text index knows of an image, one name a line (see _marked_names)."""
    return "\n".join(label_names(labels))


def _marked_names(marked: str | None) -> frozenset[str]:
    """The names (lines of the labels column) in which highlight() marked a matched word."""
    lines = (marked or "").split("\n")
    return frozenset(line.replace("\x01", "").replace("\x02", "") for line in lines if "\x01" in line)


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _hold_process_lock(path: str, wait_seconds: float) -> int:
    """One process working on a database's queue: a second one would requeue the first one's running jobs.

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
