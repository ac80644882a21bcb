"""The job queue on SQLite: the messages and jobs tables of sqlite/messages.py."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from bot.install_context import workspace_or_current
from bot.render import ImageResult
from bot.store.encoding import result_to_dict
from bot.store.protocols import TURN_SECONDS, Job, QueueStats
from bot.store.sqlite.database import SqliteDatabase

# claim_job chooses among this many of the oldest queued jobs: a burst's, and a bounded cost with a long queue.
CLAIM_LOOKAHEAD = 200


class SqliteJobQueue:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

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
        workspace: str | None = None,
    ) -> int:
        workspace = workspace_or_current(workspace)
        now = self._database.clock()
        state = "queued" if refused is None else "done"
        with self._database.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO messages (channel_id, message_ts, thread_ts, created_at, user_id, channel_type,"
                " workspace) VALUES (?,?,?,?,?,?,?)",
                (channel_id, message_ts, thread_ts, now, user_id, channel_type, workspace),
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
        with self._database.transaction() as db:
            turn = db.execute(
                "SELECT queued.id, (SELECT COUNT(*) FROM messages m WHERE m.channel_id=queued.channel_id"
                " AND m.message_ts<queued.message_ts"
                " AND m.message_ts>=printf('%.6f', CAST(queued.message_ts AS REAL) - ?)) AS turn"
                " FROM (SELECT id, channel_id, message_ts FROM jobs WHERE state='queued' ORDER BY id LIMIT ?) queued"
                " ORDER BY turn, queued.id LIMIT 1",
                (TURN_SECONDS, CLAIM_LOOKAHEAD),
            ).fetchone()
            if turn is None:
                return None
            [job] = _take_jobs(db, "id = ?", (turn["id"],), self._database.clock())
        return replace(job, turn=turn["turn"])

    def claim_message_jobs(self, channel_id: str, message_ts: str) -> list[Job]:
        with self._database.transaction() as db:
            return _take_jobs(
                db, "channel_id=? AND message_ts=? AND state='queued'", (channel_id, message_ts), self._database.clock()
            )

    def finish_job(self, job_id: int | str, result: ImageResult) -> None:
        with self._database.transaction() as db:
            db.execute(
                "UPDATE jobs SET state='done', result_json=?, updated_at=? WHERE id=?",
                (json.dumps(result_to_dict(result)), self._database.clock(), job_id),
            )

    def relabel(self, channel_id: str, message_ts: str, file_id: str) -> bool:
        with self._database.transaction() as db:
            requeued = db.execute(
                "UPDATE jobs SET state='queued', attempts=0, updated_at=? WHERE channel_id=? AND message_ts=?"
                " AND file_id=? AND state='done' AND COALESCE(json_array_length(result_json, '$.held'), 0) > 0"
                " AND EXISTS (SELECT 1 FROM messages m WHERE m.channel_id=jobs.channel_id"
                " AND m.message_ts=jobs.message_ts AND m.deleted_at IS NULL AND m.reply_state != 'posting')",
                (self._database.clock(), channel_id, message_ts, file_id),
            ).rowcount
            if requeued:  # the reply (posted, or still waiting) is posted again once the job is done: as an update
                db.execute(
                    "UPDATE messages SET reply_state='waiting', reply_interrupted=0 WHERE channel_id=?"
                    " AND message_ts=? AND reply_state='posted'",
                    (channel_id, message_ts),
                )
        return requeued == 1

    def requeue_interrupted(self) -> int:
        return self.requeue_stalled(float("inf"))

    def requeue_stalled(self, older_than: float) -> int:
        with self._database.transaction() as db:
            # A running job's updated_at is when it was claimed.
            return db.execute(
                "UPDATE jobs SET state='queued' WHERE state='running' AND updated_at < ?", (older_than,)
            ).rowcount

    def queue_stats(self) -> QueueStats:
        with self._database.reading() as db:
            depth, oldest = db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM jobs WHERE state IN ('queued', 'running')"  # the index
            ).fetchone()
        return QueueStats(depth=depth, oldest_age_seconds=0.0 if oldest is None else self._database.clock() - oldest)

    def waiting_at_least(self, count: int) -> bool:
        if count <= 0:
            return True
        with self._database.reading() as db:
            (waiting,) = db.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE state IN ('queued', 'running') LIMIT ?)", (count,)
            ).fetchone()
        return waiting >= count

    def purge_finished_jobs(self, older_than: float, *, batch: int = 1000) -> int:
        """Retention for the jobs too: their results hold labels, file names and errors. A message whose jobs are
        all gone and whose reply is settled goes as well (a later "Label this image" on it labels it afresh). In
        batches, so the listener's writes never wait long behind a big first purge."""
        purged = 0
        while True:
            with self._database.transaction() as db:
                deleted = db.execute(
                    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state='done' AND updated_at < ? LIMIT ?)",
                    (older_than, batch),
                ).rowcount
            purged += deleted
            if deleted < batch:
                break
        with self._database.transaction() as db:
            db.execute(
                "DELETE FROM messages WHERE created_at < ? AND reply_state='posted'"
                " AND (deleted_at IS NULL OR reply_deleted=1) AND NOT EXISTS (SELECT 1 FROM jobs j"
                " WHERE j.channel_id=messages.channel_id AND j.message_ts=messages.message_ts)",
                (older_than,),
            )
        return purged


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
            "SELECT thread_ts, user_id, channel_type, workspace FROM messages WHERE channel_id=? AND message_ts=?",
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
                workspace=message["workspace"],
            )
        )
    return jobs
