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
from bot.render import ImageResult
from bot.settings import ChannelOverrides
from bot.store import Job, QueueStats, result_from_dict, result_to_dict

SCHEMA = """
CREATE TABLE IF NOT EXISTS channel_settings (
    channel_id TEXT PRIMARY KEY,
    threshold REAL,
    max_labels INTEGER,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    channel_id TEXT NOT NULL,
    message_ts TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    reply_state TEXT NOT NULL DEFAULT 'waiting',  -- waiting | posting | posted
    reply_ts TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (channel_id, message_ts)
);
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
"""


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

    def enqueue_message(self, channel_id: str, message_ts: str, thread_ts: str, files: list[dict]) -> int:
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO messages (channel_id, message_ts, thread_ts, created_at) VALUES (?,?,?,?)",
                (channel_id, message_ts, thread_ts, now),
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
            (thread_ts,) = db.execute(
                "SELECT thread_ts FROM messages WHERE channel_id=? AND message_ts=?",
                (row["channel_id"], row["message_ts"]),
            ).fetchone()
        return Job(
            id=row["id"],
            channel_id=row["channel_id"],
            message_ts=row["message_ts"],
            thread_ts=thread_ts,
            file=json.loads(row["file_json"]),
            attempts=row["attempts"],
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

    def get_overrides(self, channel_id: str) -> ChannelOverrides:
        with self._lock:
            row = self._db.execute(
                "SELECT threshold, max_labels FROM channel_settings WHERE channel_id=?", (channel_id,)
            ).fetchone()
        if row is None:
            return ChannelOverrides()
        return ChannelOverrides(threshold=row["threshold"], max_labels=row["max_labels"])

    def save_overrides(self, channel_id: str, overrides: ChannelOverrides) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO channel_settings (channel_id, threshold, max_labels, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT (channel_id) DO UPDATE SET threshold=excluded.threshold,"
                " max_labels=excluded.max_labels, updated_at=excluded.updated_at",
                (channel_id, overrides.threshold, overrides.max_labels, time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._process_lock is not None:
            os.close(self._process_lock)  # releases the flock
            self._process_lock = None


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
