"""Reply state on DynamoDB: the message's item (dynamodb/messages.py). A claim reads the message's partition
consistently (all jobs done?), then moves waiting -> posting conditioned on the revision read, so any job change in
between fails it; earlier unsettled messages come from by_channel_waiting; replies due ("reply-ready", set by the
finish that may complete a message), being posted ("reply-posting", for the stall sweep) and to delete
("reply-delete") from by_state. Every index hit is read again from the table, as indexes lag it by up to a second."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

from bot.store.dynamodb import messages
from bot.store.dynamodb.base import TRIES, DynamoTables, batched
from bot.store.dynamodb.messages import message_key, message_key_of
from bot.store.encoding import result_from_dict
from bot.store.protocols import REPLY_DELETION_CLAIM_SECONDS, ClaimedReply


class DynamoReplyState:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def claim_reply(
        self, channel_id: str, message_ts: str, *, after_earlier_since: float | None = None
    ) -> ClaimedReply | None:
        for _ in range(TRIES):  # again only when a job changed between the read and the claim
            message, jobs = messages.message_and_jobs(self._tables, channel_id, message_ts)
            if message is None or any(job["state"] != "done" for job in jobs):
                return None
            if message["reply_state"] != "waiting" or "deleted_at" in message:  # deleted: no reply
                return None
            if message.get("recorded") is False:  # its jobs are being recorded (items recorded before have none)
                return None
            if after_earlier_since is not None and self._earlier_unsettled(channel_id, message_ts, after_earlier_since):
                return None  # it goes first (its poster then posts this one)
            claimed = self._tables.update(
                self._tables.jobs_table,
                message,
                "SET #reply_state = :posting, #state_key = :posting_key, #state_since = :now",
                "#reply_state = :waiting AND attribute_not_exists(#deleted_at) AND #revision = :revision",
                posting="posting",
                posting_key="reply-posting",
                now=self._tables.clock(),
                waiting="waiting",
                revision=message["revision"],
            )
            if claimed is not None:
                results = [result_from_dict(json.loads(job["result"])) for job in jobs]
                return ClaimedReply(
                    message["thread_ts"], results, message.get("reply_ts", ""), message.get("workspace", "")
                )
        return None

    def _earlier_unsettled(self, channel_id: str, message_ts: str, since: float) -> bool:
        """Whether an earlier message of the channel, recorded since `since`, is waiting for its reply or being
        answered."""
        return any(float(message["created_at"]) >= since for message in self._unsettled(channel_id, before=message_ts))

    def next_waiting_reply(self, channel_id: str, after_ts: str) -> str | None:
        waiting = (m for m in self._unsettled(channel_id, after=after_ts) if m["reply_state"] == "waiting")
        return next((m["message_ts"] for m in waiting), None)

    def _unsettled(self, channel_id: str, *, before: str | None = None, after: str | None = None) -> Iterator[dict]:
        """The channel's messages whose reply is waiting or being posted, not deleted: nearest to before/after
        first. The index lags the table, so each is read from the table."""
        bound, ts = ("<", before) if before is not None else (">", after)
        keys = self._tables.query(
            self._tables.jobs_table,
            f"#waiting_channel = :channel AND #message_ts {bound} :ts",
            {"channel": channel_id, "ts": ts},
            index="by_channel_waiting",
            forward=before is None,
            page=10,
        )
        for page in batched(keys, 10):
            found = self._tables.get_many(self._tables.jobs_table, [message_key_of(k) for k in page])
            by_pk = {m["pk"]: m for m in found}
            for key in page:
                message = by_pk.get(key["pk"])
                if message and message["reply_state"] != "posted" and "deleted_at" not in message:
                    yield message

    def mark_replied(self, channel_id: str, message_ts: str, reply_ts: str) -> None:
        now = self._tables.clock()
        posted = "SET #reply_state = :posted, #reply_ts = :reply_ts"
        if reply_ts:  # deleted while it was being posted: the reply sweep deletes the reply
            when_deleted = f"{posted}, #state_key = :delete, #state_since = :now REMOVE #waiting_channel"
        else:
            when_deleted = f"{posted} REMOVE #waiting_channel, #state_key, #state_since"
        self._tables.update_first(
            self._tables.jobs_table,
            message_key(channel_id, message_ts),
            (
                f"{posted}, #expires_at = :expires_at REMOVE #waiting_channel, #state_key, #state_since",
                "attribute_exists(#pk) AND attribute_not_exists(#deleted_at)",
            ),
            (when_deleted, "attribute_exists(#pk) AND attribute_exists(#deleted_at)"),
            posted="posted",
            reply_ts=reply_ts,
            expires_at=int(now + self._tables.retention),
            delete="reply-delete",
            now=now,
        )

    def release_reply(self, channel_id: str, message_ts: str, *, maybe_posted: bool = False) -> None:
        self._return_reply(message_key(channel_id, message_ts), interrupted=maybe_posted)

    def requeue_interrupted(self) -> None:
        self.requeue_stalled(float("inf"))

    def requeue_stalled(self, older_than: float) -> None:
        for item in messages.taken_before(self._tables, "reply-posting", older_than):
            # Its post may have reached Slack before the invocation died: the next try looks in the thread first.
            self._return_reply(item, interrupted=True, only_since=item["state_since"])

    def _return_reply(self, message: dict, *, interrupted: bool, only_since: Decimal | None = None) -> None:
        """A reply being posted waits again (for the sweep, unless the message was deleted meanwhile)."""
        mark = ", #reply_interrupted = :true" if interrupted else ""
        posting = "#reply_state = :posting" + (" AND #state_since = :since" if only_since is not None else "")
        self._tables.update_first(
            self._tables.jobs_table,
            message,
            (
                f"SET #reply_state = :waiting, #state_key = :ready, #state_since = :now{mark}",
                f"{posting} AND attribute_not_exists(#deleted_at)",
            ),
            (
                f"SET #reply_state = :waiting{mark} REMOVE #state_key, #state_since",
                f"{posting} AND attribute_exists(#deleted_at)",
            ),
            waiting="waiting",
            posting="posting",
            ready="reply-ready",
            now=self._tables.clock(),
            true=True,
            since=only_since,
        )

    def reply_interrupted(self, channel_id: str, message_ts: str) -> bool:
        message = self._tables.get(self._tables.jobs_table, message_key(channel_id, message_ts))
        return bool(message and message.get("reply_interrupted"))

    def messages_ready_to_reply(self) -> list[tuple[str, str]]:
        ready = []
        hints = self._tables.query(
            self._tables.jobs_table, "#state_key = :ready", {"ready": "reply-ready"}, index="by_state"
        )
        for hint in hints:
            message, jobs = messages.message_and_jobs(self._tables, hint["channel_id"], hint["message_ts"])
            if message is None:
                continue
            if (
                message["reply_state"] == "waiting"
                and "deleted_at" not in message
                and all(job["state"] == "done" for job in jobs)
            ):
                ready.append((message["channel_id"], message["message_ts"]))
            else:  # not due (yet): whatever makes it due marks it again, and a change since makes this fail
                self._tables.update(
                    self._tables.jobs_table,
                    message,
                    "REMOVE #state_key, #state_since",
                    "#state_key = :ready AND #revision = :revision AND #reply_state = :state",
                    ready="reply-ready",
                    revision=message["revision"],
                    state=message["reply_state"],
                )
        return sorted(ready)

    def replies_to_delete(self) -> list[tuple[str, str, str, str]]:
        hints = self._tables.query(
            self._tables.jobs_table, "#state_key = :delete", {"delete": "reply-delete"}, index="by_state"
        )
        found = self._tables.get_many(self._tables.jobs_table, [message_key_of(hint) for hint in hints])
        return [
            (m["channel_id"], m["message_ts"], m["reply_ts"], m.get("workspace", ""))
            for m in found
            if "deleted_at" in m and not m.get("reply_deleted") and m["reply_state"] == "posted" and m.get("reply_ts")
        ]

    def claim_reply_deletion(self, channel_id: str, message_ts: str) -> bool:
        now = self._tables.clock()
        claimed = self._tables.update(
            self._tables.jobs_table,
            message_key(channel_id, message_ts),
            "SET #reply_deleting_since = :now",
            "attribute_exists(#pk) AND attribute_not_exists(#reply_deleted)"
            " AND (attribute_not_exists(#reply_deleting_since) OR #reply_deleting_since < :stale)",
            now=now,
            stale=now - REPLY_DELETION_CLAIM_SECONDS,
        )
        return claimed is not None

    def release_reply_deletion(self, channel_id: str, message_ts: str) -> None:
        self._tables.update(
            self._tables.jobs_table,
            message_key(channel_id, message_ts),
            "REMOVE #reply_deleting_since",
            "attribute_exists(#pk)",
        )

    def mark_reply_deleted(self, channel_id: str, message_ts: str) -> None:
        self._tables.update(
            self._tables.jobs_table,
            message_key(channel_id, message_ts),
            "SET #reply_deleted = :true REMOVE #state_key, #state_since",
            "attribute_exists(#pk)",
            true=True,
        )
