"""Reply state on SQLite: the messages table's reply columns (sqlite/messages.py). A claim reads the message's jobs
in the same transaction, so it sees every job done or none."""

from __future__ import annotations

import json

from bot.store.encoding import result_from_dict
from bot.store.protocols import REPLY_DELETION_CLAIM_SECONDS, ClaimedReply
from bot.store.sqlite.database import SqliteDatabase


class SqliteReplyState:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def claim_reply(
        self, channel_id: str, message_ts: str, *, after_earlier_since: float | None = None
    ) -> ClaimedReply | None:
        key = (channel_id, message_ts)
        with self._database.transaction() as db:
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
            row = db.execute(  # a deleted message gets no reply
                "UPDATE messages SET reply_state='posting', posting_since=? WHERE channel_id=? AND message_ts=?"
                " AND reply_state='waiting' AND deleted_at IS NULL RETURNING thread_ts, reply_ts, workspace",
                (self._database.clock(), *key),
            ).fetchone()
            if row is None:
                return None
            results = db.execute(
                "SELECT result_json FROM jobs WHERE channel_id=? AND message_ts=? ORDER BY position", key
            ).fetchall()
        return ClaimedReply(
            row["thread_ts"],
            [result_from_dict(json.loads(r["result_json"])) for r in results],
            row["reply_ts"] or "",
            row["workspace"],
        )

    def mark_replied(self, channel_id: str, message_ts: str, reply_ts: str) -> None:
        with self._database.transaction() as db:
            db.execute(
                "UPDATE messages SET reply_state='posted', reply_ts=? WHERE channel_id=? AND message_ts=?",
                (reply_ts, channel_id, message_ts),
            )

    def release_reply(self, channel_id: str, message_ts: str, *, maybe_posted: bool = False) -> None:
        with self._database.transaction() as db:
            db.execute(
                "UPDATE messages SET reply_state='waiting', reply_interrupted=MAX(reply_interrupted, ?)"
                " WHERE channel_id=? AND message_ts=? AND reply_state='posting'",
                (int(maybe_posted), channel_id, message_ts),
            )

    def requeue_interrupted(self) -> None:
        self.requeue_stalled(float("inf"))

    def requeue_stalled(self, older_than: float) -> None:
        with self._database.transaction() as db:
            # Its post may have reached Slack before the process died: the next try looks in the thread first.
            db.execute(
                "UPDATE messages SET reply_state='waiting', reply_interrupted=1"
                " WHERE reply_state='posting' AND COALESCE(posting_since, 0) < ?",  # NULL: claimed before the column
                (older_than,),
            )

    def reply_interrupted(self, channel_id: str, message_ts: str) -> bool:
        with self._database.reading() as db:
            row = db.execute(
                "SELECT reply_interrupted FROM messages WHERE channel_id=? AND message_ts=?", (channel_id, message_ts)
            ).fetchone()
        return bool(row and row["reply_interrupted"])

    def messages_ready_to_reply(self) -> list[tuple[str, str]]:
        with self._database.reading() as db:
            rows = db.execute(
                "SELECT channel_id, message_ts FROM messages m WHERE reply_state='waiting' AND deleted_at IS NULL"
                " AND NOT EXISTS"
                " (SELECT 1 FROM jobs j WHERE j.channel_id=m.channel_id AND j.message_ts=m.message_ts"
                " AND j.state!='done') ORDER BY channel_id, message_ts"
            ).fetchall()
        return [(r["channel_id"], r["message_ts"]) for r in rows]

    def next_waiting_reply(self, channel_id: str, after_ts: str) -> str | None:
        with self._database.reading() as db:
            row = db.execute(
                "SELECT message_ts FROM messages WHERE channel_id=? AND reply_state='waiting' AND message_ts > ?"
                " AND deleted_at IS NULL ORDER BY message_ts LIMIT 1",
                (channel_id, after_ts),
            ).fetchone()
        return None if row is None else row["message_ts"]

    def replies_to_delete(self) -> list[tuple[str, str, str, str]]:
        with self._database.reading() as db:
            rows = db.execute(
                "SELECT channel_id, message_ts, reply_ts, workspace FROM messages WHERE deleted_at IS NOT NULL"
                " AND reply_deleted = 0 AND reply_state='posted' AND COALESCE(reply_ts, '') != ''"
            ).fetchall()
        return [(r["channel_id"], r["message_ts"], r["reply_ts"], r["workspace"]) for r in rows]

    def claim_reply_deletion(self, channel_id: str, message_ts: str) -> bool:
        now = self._database.clock()
        with self._database.transaction() as db:
            return (
                db.execute(
                    "UPDATE messages SET reply_deleting_since=? WHERE channel_id=? AND message_ts=? AND reply_deleted=0"
                    " AND (reply_deleting_since IS NULL OR reply_deleting_since < ?)",
                    (now, channel_id, message_ts, now - REPLY_DELETION_CLAIM_SECONDS),
                ).rowcount
                == 1
            )

    def release_reply_deletion(self, channel_id: str, message_ts: str) -> None:
        with self._database.transaction() as db:
            db.execute(
                "UPDATE messages SET reply_deleting_since=NULL WHERE channel_id=? AND message_ts=?",
                (channel_id, message_ts),
            )

    def mark_reply_deleted(self, channel_id: str, message_ts: str) -> None:
        with self._database.transaction() as db:
            db.execute(
                "UPDATE messages SET reply_deleted=1 WHERE channel_id=? AND message_ts=?", (channel_id, message_ts)
            )
