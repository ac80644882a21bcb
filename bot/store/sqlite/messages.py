"""The records the queue, the replies, the deletions and the Home tab's summary share: one row per image message
(its reply's state too) and one job per file, and what Slack deleted. Each concern's module reads and writes them in
its own transactions; the helpers here run inside a caller's transaction, so that what must change together does."""

from __future__ import annotations

import sqlite3

SCHEMA = """
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
CREATE INDEX IF NOT EXISTS jobs_by_finish ON jobs (state, updated_at);  -- the App Home summary
-- Deletions in Slack: a file deleted while its job runs is not indexed afterwards; its jobs go.
CREATE TABLE IF NOT EXISTS deleted_files (
    file_id TEXT PRIMARY KEY,
    deleted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_file ON jobs (file_id);
-- Per-channel reply order: a message's earlier unsettled neighbours in its channel.
CREATE INDEX IF NOT EXISTS messages_by_channel_state ON messages (channel_id, reply_state, message_ts);
"""

# Columns added after a table first shipped: (name, SQL type). Older databases get them on open.
COLUMNS_ADDED = {
    "messages": (
        ("reply_interrupted", "INTEGER NOT NULL DEFAULT 0"),
        ("posting_since", "REAL"),
        ("workspace", "TEXT NOT NULL DEFAULT ''"),  # the install it came through (Job.workspace)
        ("reply_deleting_since", "REAL"),  # when a sweep claimed the deletion of its reply (claim_reply_deletion)
    )
}


def mark_message_deleted(db: sqlite3.Connection, channel_id: str, message_ts: str, now: float) -> None:
    """No reply is posted for it any more, and the reply sweep deletes one already posted."""
    db.execute(
        "UPDATE messages SET deleted_at=? WHERE channel_id=? AND message_ts=? AND deleted_at IS NULL",
        (now, channel_id, message_ts),
    )


def was_deleted(db: sqlite3.Connection, channel_id: str, message_ts: str, file_id: str) -> bool:
    """Whether the message, or the file, was deleted in Slack."""
    return bool(
        db.execute(
            "SELECT 1 FROM messages WHERE channel_id=? AND message_ts=? AND deleted_at IS NOT NULL",
            (channel_id, message_ts),
        ).fetchone()
        or db.execute("SELECT 1 FROM deleted_files WHERE file_id=?", (file_id,)).fetchone()
    )


def note_file_deleted(db: sqlite3.Connection, file_id: str, now: float) -> None:
    db.execute("INSERT OR IGNORE INTO deleted_files (file_id, deleted_at) VALUES (?,?)", (file_id, now))


def forget_deleted_files(db: sqlite3.Connection, older_than: float) -> None:
    """No job of a file deleted that long ago is still running."""
    db.execute("DELETE FROM deleted_files WHERE deleted_at < ?", (older_than,))


def delete_message_jobs(db: sqlite3.Connection, channel_id: str, message_ts: str) -> None:
    """A running one's finish_job then updates nothing."""
    db.execute("DELETE FROM jobs WHERE channel_id=? AND message_ts=?", (channel_id, message_ts))


def delete_file_jobs(db: sqlite3.Connection, file_id: str) -> set[tuple[str, str]]:
    """Delete the file's jobs; returns their messages, (channel, ts)."""
    rows = db.execute("DELETE FROM jobs WHERE file_id=? RETURNING channel_id, message_ts", (file_id,))
    return {(r["channel_id"], r["message_ts"]) for r in rows}


def images_left(db: sqlite3.Connection, channel_id: str, message_ts: str) -> int:
    """The message's jobs that are not skipped files (a PDF beside the image, say)."""
    (count,) = db.execute(
        "SELECT COUNT(*) FROM jobs WHERE channel_id=? AND message_ts=?"
        " AND NOT COALESCE(json_extract(result_json, '$.skipped'), 0)",
        (channel_id, message_ts),
    ).fetchone()
    return count
