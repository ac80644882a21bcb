"""Deletions in Slack on DynamoDB. No transaction spans the tables, so the order does the work: the message (or the
file) is marked deleted first, so that an index_images or claim_reply running meanwhile sees it; then its index
entries (dynamodb/tag_index.py) and its jobs go, each job with a bump of its message's revision, and its held images
(dynamodb/moderation.py; a release of their content stays); the Show where pictures made of it are queued for
deletion (dynamodb/where_pictures.py)."""

from __future__ import annotations

import json

from bot.store.dynamodb import messages, moderation, tag_index, where_pictures
from bot.store.dynamodb.base import TRIES, DynamoTables, primary_key
from bot.store.dynamodb.messages import deleted_file_key, message_key
from bot.store.dynamodb.wire import to_wire


class DynamoDeletions:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        # Marked first: an index_images or claim_reply running now then sees it.
        self._mark_deleted(channel_id, message_ts)
        images = tag_index.message_images(self._tables, channel_id, message_ts)
        tag_index.drop_images(self._tables, images)
        # Its jobs hold labels and file names: they go too (a running one's finish_job then updates nothing).
        jobs = self._tables.query(
            self._tables.jobs_table,
            "#pk = :pk AND begins_with(#sk, :file)",
            {"pk": message_key(channel_id, message_ts)["pk"], "file": "file#"},
        )
        self._tables.write_many(self._tables.jobs_table, deletes=jobs)
        moderation.drop_message_held(self._tables, channel_id, message_ts)
        where_pictures.queue_message_uploads(self._tables, channel_id, message_ts)
        return len(images)

    def forget_file(self, file_id: str) -> int:
        now = self._tables.clock()
        marker = {**deleted_file_key(file_id), "deleted_at": now, "expires_at": int(now + self._tables.retention)}
        self._tables.put_unless_live(self._tables.jobs_table, marker, now)
        job_keys = list(
            self._tables.query(self._tables.jobs_table, "#file_id = :file_id", {"file_id": file_id}, index="by_file")
        )
        jobs = self._tables.get_many(self._tables.jobs_table, job_keys)
        images = tag_index.file_images(self._tables, file_id, jobs)
        tag_index.drop_images(self._tables, images)
        for job in jobs:
            delete = {"Delete": {"TableName": self._tables.jobs_table, "Key": to_wire(primary_key(job))}}
            touch = messages.touch_message(self._tables, job["pk"], ready=False)
            if self._tables.transact([delete, touch]):  # no message: just the job
                self._tables.write_many(self._tables.jobs_table, deletes=[job])
        moderation.drop_file_held(self._tables, file_id)
        where_pictures.queue_file_uploads(self._tables, file_id)
        for channel_id, message_ts in {(job["channel_id"], job["message_ts"]) for job in jobs}:
            self._after_file_removed(channel_id, message_ts)
        return len(images)

    def _after_file_removed(self, channel_id: str, message_ts: str) -> None:
        """A message left without images counts as deleted (its reply goes too); else its reply may be due now."""
        _, jobs = messages.message_and_jobs(self._tables, channel_id, message_ts)
        if any(not job.get("result") or not json.loads(job["result"]).get("skipped") for job in jobs):
            messages.hint_ready(self._tables, message_key(channel_id, message_ts), self._tables.clock())
        else:
            self._mark_deleted(channel_id, message_ts)
            where_pictures.queue_message_uploads(self._tables, channel_id, message_ts)

    def _mark_deleted(self, channel_id: str, message_ts: str) -> None:
        """No reply is posted for it any more, and the reply sweep deletes one already posted."""
        key = message_key(channel_id, message_ts)
        for _ in range(TRIES):  # again only when its reply state changed between the read and the write
            message = self._tables.get(self._tables.jobs_table, key)
            if message is None or "deleted_at" in message:
                return
            now = self._tables.clock()
            posted = message["reply_state"] == "posted" and message.get("reply_ts")
            update = "SET #deleted_at = :now, #expires_at = :expires_at"
            if posted:
                update += ", #state_key = :delete, #state_since = :now REMOVE #waiting_channel"
            elif message["reply_state"] == "posting":  # the stall sweep still needs to find it
                update += " REMOVE #waiting_channel"
            else:
                update += " REMOVE #waiting_channel, #state_key, #state_since"
            if self._tables.update(
                self._tables.jobs_table,
                key,
                update,
                "#reply_state = :state AND attribute_not_exists(#deleted_at)",
                now=now,
                expires_at=int(now + self._tables.retention),
                state=message["reply_state"],
                delete="reply-delete",
            ):
                return
