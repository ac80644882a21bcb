"""The job queue on DynamoDB: a message's partition (dynamodb/messages.py), by_state "queued" oldest first.

Recording a message: its item is put unless one exists, then each file's job in a transaction (with the message's
revision) conditioned on the job not existing, so a retried event, or two at once, add no second job. A claim is an
update conditioned on the job still being queued (two invocations never take the same job); the invocation after an
ack takes its message's jobs from its partition; by_state "running" (since when) for the stall sweep. Limits: the
"queued" partition takes every enqueue and claim and queue_stats reads it whole (fine for the overload cap's
thousands, not millions); a job recorded less than a second ago may be missed by claim_job (not by
claim_message_jobs); a message's files finishing at once contend for its item (transactions retried on conflict)."""

from __future__ import annotations

import json
from decimal import Decimal

from bot.install_context import workspace_or_current
from bot.render import ImageResult
from bot.store.dynamodb import messages
from bot.store.dynamodb.base import DAY, DynamoTables, batched, utc_day, utc_days
from bot.store.dynamodb.messages import job_from_item, message_key
from bot.store.dynamodb.wire import condition_args, to_wire, update_args
from bot.store.encoding import result_to_dict
from bot.store.protocols import Job, QueueStats

PURGE_LOOKBACK_DAYS = 7  # finished jobs' days the purge walks before its cutoff (TTL's lag is at most ~2)


class DynamoJobQueue:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

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
        now = self._tables.clock()
        message = self._record_message(
            channel_id, message_ts, thread_ts, user_id, channel_type, bool(files), now, workspace
        )
        added = sum(self._record_job(message, position, file, refused, now) for position, file in enumerate(files))
        if message.get("recorded") is False:  # every job is there now: the reply may be claimed (claim_reply)
            messages.mark_recorded(self._tables, message_key(channel_id, message_ts))
        if refused is not None or not files:  # nothing to label: the reply is due now
            messages.hint_ready(self._tables, message_key(channel_id, message_ts), now)
        return added

    def _record_message(
        self,
        channel_id: str,
        message_ts: str,
        thread_ts: str,
        user_id: str,
        channel_type: str,
        has_files: bool,
        now: float,
        workspace: str = "",
    ) -> dict:
        """The message's item: this one when new, else the one recorded first (a retry's ts and poster are the same).
        It is written before its jobs (an item each), so it says `recorded` false until they all are: meanwhile no
        one claims its reply (the channel's previous reply, looking for the next waiting one, would settle it with
        none of its images)."""
        item = {
            **message_key(channel_id, message_ts),
            "channel_id": channel_id,
            "message_ts": message_ts,
            "thread_ts": thread_ts,
            "user_id": user_id,
            "channel_type": channel_type,
            **({"workspace": workspace} if workspace else {}),  # absent: the one workspace's (Job.workspace)
            "created_at": now,
            "reply_state": "waiting",
            "revision": 0,
            "waiting_channel": channel_id,
            "recorded": not has_files,
        }
        return self._tables.put_unless_live(self._tables.jobs_table, item, now) or item

    def _record_job(self, message: dict, position: int, file: dict, refused: str | None, now: float) -> int:
        """1 if the file's job is new, 0 if it was recorded already (a retry, or both events of a pair)."""
        job = {
            "pk": message["pk"],
            "sk": "file#" + file["id"],
            **{name: message[name] for name in ("channel_id", "message_ts", "thread_ts", "user_id", "channel_type")},
            **({"workspace": message["workspace"]} if message.get("workspace") else {}),
            "file_id": file["id"],
            "file": json.dumps(file),
            "position": position,
            "attempts": 0,
            "created_at": now,
            # Oldest first; a message's files in post order (created_at is the same for all of them).
            "queue_order": Decimal(f"{now:.6f}") + Decimal(position).scaleb(-9),
        }
        if refused is None:
            job.update(state="queued", state_key="queued", state_since=job["queue_order"])
        else:  # done already, with the reason as its error: the reply says it, once
            name = str(file.get("name") or file.get("title") or file["id"])
            job.update(self._finished(ImageResult(file["id"], name, error=refused), now), state="done")
        put = {
            "Put": {
                "TableName": self._tables.jobs_table,
                "Item": to_wire(job),
                **condition_args("attribute_not_exists(#pk) OR #expires_at <= :now", now=now),
            }
        }
        touch = messages.touch_message(self._tables, message["pk"], ready=False)
        return 0 if self._tables.transact([put, touch]) else 1

    def claim_job(self) -> Job | None:
        queued = self._tables.query(
            self._tables.jobs_table, "#state_key = :queued", {"queued": "queued"}, index="by_state", page=10
        )
        for item in queued:
            job = self._take_job(item)
            if job is not None:
                return job
        return None

    def claim_message_jobs(self, channel_id: str, message_ts: str) -> list[Job]:
        _, jobs = messages.message_and_jobs(self._tables, channel_id, message_ts)
        taken = (self._take_job(item) for item in jobs if item["state"] == "queued")
        return [job for job in taken if job is not None]

    def _take_job(self, item: dict) -> Job | None:
        """Mark the job running unless someone else took it first."""
        taken = self._tables.update(
            self._tables.jobs_table,
            item,
            "SET #state = :running, #state_key = :running, #state_since = :now ADD #attempts :one",
            "#state_key = :queued",
            running="running",
            now=self._tables.clock(),
            one=1,
            queued="queued",
        )
        return None if taken is None else job_from_item(taken)

    def finish_job(self, job_id: int | str, result: ImageResult) -> None:
        pk, sk = str(job_id).split("|", 1)
        finish = {
            "Update": {
                "TableName": self._tables.jobs_table,
                "Key": to_wire({"pk": pk, "sk": sk}),
                **update_args(
                    "SET #state = :done, #result = :result, #finished_at = :finished_at, #finished_day = "
                    ":finished_day, #expires_at = :expires_at REMOVE #state_key, #state_since",
                    "attribute_exists(#pk)",  # deleted meanwhile (the message or file was): nothing to record
                    done="done",
                    **self._finished(result, self._tables.clock()),
                ),
            }
        }
        reasons = self._tables.transact([finish, messages.touch_message(self._tables, pk, ready=True)])
        if reasons and reasons[0] == "None":  # the reply isn't waiting (or the message is deleted): no hint
            self._tables.transact([finish, messages.touch_message(self._tables, pk, ready=False)])

    def _finished(self, result: ImageResult, now: float) -> dict:
        return {
            "result": json.dumps(result_to_dict(result)),
            "finished_at": now,
            "finished_day": utc_day(now),
            "expires_at": int(now + self._tables.retention),
        }

    def queue_stats(self) -> QueueStats:
        waiting = [
            float(item["created_at"])
            for state in ("queued", "running")
            for item in self._tables.query(
                self._tables.jobs_table,
                "#state_key = :state",
                {"state": state},
                index="by_state",
                projection="#created_at",
            )
        ]
        oldest = min(waiting, default=None)
        return QueueStats(
            depth=len(waiting), oldest_age_seconds=0.0 if oldest is None else self._tables.clock() - oldest
        )

    def waiting_at_least(self, count: int) -> bool:
        """One Select=COUNT query of the by_state partition `queued` (and, if it holds fewer, of `running`), each
        reading at most `count` entries: not the whole queue, as queue_stats does."""
        found = 0
        if count <= 0:
            return True
        for state in ("queued", "running"):
            found += self._tables.count(
                self._tables.jobs_table, "#state_key = :state", {"state": state}, limit=count - found, index="by_state"
            )
            if found >= count:
                return True
        return False

    def relabel(self, channel_id: str, message_ts: str, file_id: str) -> bool:
        message, jobs = messages.message_and_jobs(self._tables, channel_id, message_ts)
        job = next((item for item in jobs if item["sk"] == "file#" + file_id), None)
        if message is None or "deleted_at" in message or message["reply_state"] == "posting" or job is None:
            return False
        if job["state"] != "done" or not json.loads(job["result"]).get("held"):
            return False
        requeue = {
            "Update": {
                "TableName": self._tables.jobs_table,
                "Key": to_wire({"pk": job["pk"], "sk": job["sk"]}),
                **update_args(
                    "SET #state = :queued, #state_key = :queued, #state_since = #queue_order, #attempts = :zero"
                    " REMOVE #expires_at",
                    "#state = :done AND #result = :result",  # not requeued (nor relabelled) since it was read
                    queued="queued",
                    zero=0,
                    done="done",
                    result=job["result"],
                ),
            }
        }
        # The reply (posted, or still waiting) is posted again once the job is done: as an update of the posted one.
        reopen = {
            "Update": {
                "TableName": self._tables.jobs_table,
                "Key": to_wire(message_key(channel_id, message_ts)),
                **update_args(
                    "SET #reply_state = :waiting, #waiting_channel = :channel, #reply_interrupted = :false"
                    " ADD #revision :one REMOVE #state_key, #state_since",
                    "attribute_exists(#pk) AND attribute_not_exists(#deleted_at) AND #reply_state <> :posting",
                    waiting="waiting",
                    channel=channel_id,
                    false=False,
                    one=1,
                    posting="posting",
                ),
            }
        }
        return self._tables.transact([requeue, reopen]) is None

    def requeue_interrupted(self) -> int:
        return self.requeue_stalled(float("inf"))

    def requeue_stalled(self, older_than: float) -> int:
        return sum(
            self._tables.update(
                self._tables.jobs_table,
                item,
                "SET #state = :queued, #state_key = :queued, #state_since = #queue_order",
                "#state_key = :running AND #state_since = :since",  # not claimed again meanwhile
                queued="queued",
                running="running",
                since=item["state_since"],
            )
            is not None
            for item in messages.taken_before(self._tables, "running", older_than)
        )

    def purge_finished_jobs(self, older_than: float, *, batch: int = 1000) -> int:
        """Jobs finished before older_than (their results hold labels, file names and errors); a message left with no
        job and a settled reply goes as well (a later "Label this image" on it labels it afresh)."""
        purged, finished_messages = 0, set()
        for day in utc_days(older_than - PURGE_LOOKBACK_DAYS * DAY, older_than):
            done = self._tables.query(
                self._tables.jobs_table,
                "#finished_day = :day AND #finished_at < :older_than",
                {"day": day, "older_than": older_than},
                index="by_finish_day",
                page=batch,
            )
            for jobs in batched(done, batch):
                self._tables.write_many(self._tables.jobs_table, deletes=jobs)
                purged += len(jobs)
                finished_messages.update((job["channel_id"], job["message_ts"]) for job in jobs)
        for channel_id, message_ts in finished_messages:
            self._purge_settled_message(channel_id, message_ts, older_than)
        return purged

    def _purge_settled_message(self, channel_id: str, message_ts: str, older_than: float) -> None:
        message, jobs = messages.message_and_jobs(self._tables, channel_id, message_ts, live_only=False)
        if message is None or jobs or float(message["created_at"]) >= older_than or message["reply_state"] != "posted":
            return
        if "deleted_at" in message and not message.get("reply_deleted"):
            return  # its reply is still to be deleted
        self._tables.delete(self._tables.jobs_table, message, "#revision = :revision", revision=message["revision"])
