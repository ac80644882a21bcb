"""The DynamoDB store (AWS Lambda, or several machines sharing one queue): the Store protocol over the three tables
of bot.store.dynamodb_tables, behaving as SqliteStore does. The only code that talks to DynamoDB.

Access patterns (each a GetItem, a Query of one partition, a BatchGet/BatchWrite or a conditional write; no Scan):
- recording a message: its item is put unless one exists, then each file's job in a transaction (with the message's
  revision) conditioned on the job not existing, so a retried event, or two at once, add no second job;
- the queue: by_state "queued" oldest first, a claim being an update conditioned on the job still being queued (two
  invocations never take the same job); the invocation after an ack takes its message's jobs from its partition;
  by_state "running" and "reply-posting" (since when) for the stall sweep;
- a reply: the message's partition read consistently (all jobs done?), then waiting -> posting conditioned on the
  revision read (any job change in between fails it); earlier unsettled messages from by_channel_waiting; replies
  due ("reply-ready", set by the finish that may complete a message) and replies to delete from by_state; every
  index hit is read again from the table, as indexes lag it by up to a second;
- /labels find: the first word's partition "word#<channel>#<stem>" newest first, `since` a sort-key condition, the
  other words a filter on the entry's stem set, paged until the limit; then the images' items (BatchGetItem); a
  search of every channel reads the channel registry (pk "channels") and merges;
- the Home tab: by_finish_day, one partition per day of the period; settings: GetItem, and UpdateItem (SET/REMOVE);
- retention: items carry expires_at (DynamoDB's TTL): finished jobs and settled messages their time plus
  retention_days (which should equal the upkeep's), index entries the message ts plus it, cached labels 30 days.
  TTL deletes up to ~48 h late, so every read skips expired items itself. The hourly purges delete what is past the
  cutoff sooner: the index per registered channel, finished jobs by day (the PURGE_LOOKBACK_DAYS before the cutoff:
  older ones an earlier purge or TTL removed), cached labels from by_state "cache"; a deleted file's marker and a
  message left with no job go by TTL alone.

Limits: a search whose first word is common and the others rare pages through the common word's entries (the filter
runs after the read); an image costs one write per distinct stem of its labels, parents and aliases (~10-30) plus
its item; by_state's "queued" partition takes every enqueue and claim and queue_stats reads it whole (fine for the
overload cap's thousands, not millions); the Home tab reads every job finished in its period; a message's files
finishing at once contend for its item (transactions retried on conflict); a job recorded less than a second ago
may be missed by claim_job (not by claim_message_jobs); the registry keeps a channel forever (one small item).
Words stem exactly as the SQLite index stems them: SQLite's own FTS5 tokenizer runs in memory (index_stems). Files
of one message are listed by file id where SQLite lists them in the order they were indexed.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import math
import random
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from bot.analysis import ANALYSIS_CACHE_DAYS
from bot.config import DYNAMODB_TABLE_VARIABLES, ConfigError
from bot.rekognition import aws_session
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

DAY = 86400
PURGE_LOOKBACK_DAYS = 7  # finished jobs' days the purge walks before its cutoff (TTL's lag is at most ~2)
SEARCH_PAGE = 100  # word entries read per request of a search
TRIES = 8  # a write that meets a concurrent change (or a transaction another one) is tried this often at most
# Why a transaction may fail and succeed when tried again; any other reason but a failed condition is an error.
TRANSIENT_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
SETTINGS_FIELDS = ("threshold", "max_labels", "enabled", "tags", "include", "exclude")

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def build_dynamodb_client():
    """boto3's DynamoDB client: botocore's standard retries (throttling, 5xx, dropped connections), 5 attempts, and
    short timeouts, as every call is inside an ack or a job. AWS_REGION is honoured as Lambda and the other SDKs do
    (botocore alone reads AWS_DEFAULT_REGION); AWS_ENDPOINT_URL_DYNAMODB points it elsewhere."""
    config = BotoConfig(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=3, read_timeout=5)
    return aws_session().client("dynamodb", config=config)


class DynamoStore:
    def __init__(
        self,
        tables: Mapping[str, str],
        *,
        client=None,
        retention_days: int = 90,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """tables: {"Settings": name, "Jobs": name, "Tags": name}. retention_days: how long finished jobs, settled
        messages and index entries live (expires_at); the upkeep's purge should use the same. clock: the time
        records are stamped with (tests move it)."""
        self._settings, self._jobs, self._tags = tables["Settings"], tables["Jobs"], tables["Tags"]
        self._owns_client = client is None
        self._db = client if client is not None else build_dynamodb_client()
        self._retention = retention_days * DAY
        self._clock = clock
        self._registered_channels: set[str] = set()

    def check_tables(self) -> None:
        """At start-up: every table exists and can be read, else a ConfigError naming the variable to fix."""
        for logical, name in (("Settings", self._settings), ("Jobs", self._jobs), ("Tags", self._tags)):
            variable = DYNAMODB_TABLE_VARIABLES[logical]
            try:
                self._db.describe_table(TableName=name)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ResourceNotFoundException":
                    region = self._db.meta.region_name
                    raise ConfigError(
                        f"{variable} is {name!r}, but no DynamoDB table has that name in {region}"
                    ) from None
                raise ConfigError(f"{variable}: reading the DynamoDB table {name!r} failed ({code})") from None
            except BotoCoreError as exc:
                raise ConfigError(f"{variable}: cannot reach DynamoDB for the table {name!r} ({exc})") from None

    # ---- the queue ---------------------------------------------------------------------------------------------

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
        message = self._record_message(channel_id, message_ts, thread_ts, user_id, channel_type, now)
        added = sum(self._record_job(message, position, file, refused, now) for position, file in enumerate(files))
        if refused is not None or not files:  # nothing to label: the reply is due now
            self._hint_ready(message_key(channel_id, message_ts), now)
        return added

    def _record_message(
        self, channel_id: str, message_ts: str, thread_ts: str, user_id: str, channel_type: str, now: float
    ) -> dict:
        """The message's item: this one when new, else the one recorded first (a retry's ts and poster are the same)."""
        item = {
            **message_key(channel_id, message_ts),
            "channel_id": channel_id,
            "message_ts": message_ts,
            "thread_ts": thread_ts,
            "user_id": user_id,
            "channel_type": channel_type,
            "created_at": now,
            "reply_state": "waiting",
            "revision": 0,
            "waiting_channel": channel_id,
        }
        return self._put_unless_live(self._jobs, item, now) or item

    def _record_job(self, message: dict, position: int, file: dict, refused: str | None, now: float) -> int:
        """1 if the file's job is new, 0 if it was recorded already (a retry, or both events of a pair)."""
        job = {
            "pk": message["pk"],
            "sk": "file#" + file["id"],
            **{name: message[name] for name in ("channel_id", "message_ts", "thread_ts", "user_id", "channel_type")},
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
                "TableName": self._jobs,
                "Item": to_wire(job),
                **condition_args("attribute_not_exists(#pk) OR #expires_at <= :now", now=now),
            }
        }
        return 0 if self._transact([put, self._touch_message(message["pk"], ready=False)]) else 1

    def claim_job(self) -> Job | None:
        for item in self._query(self._jobs, "#state_key = :queued", {"queued": "queued"}, index="by_state", page=10):
            job = self._take_job(item)
            if job is not None:
                return job
        return None

    def claim_message_jobs(self, channel_id: str, message_ts: str) -> list[Job]:
        _, jobs = self._message_and_jobs(channel_id, message_ts)
        taken = (self._take_job(item) for item in jobs if item["state"] == "queued")
        return [job for job in taken if job is not None]

    def _take_job(self, item: dict) -> Job | None:
        """Mark the job running unless someone else took it first."""
        taken = self._update(
            self._jobs,
            item,
            "SET #state = :running, #state_key = :running, #state_since = :now ADD #attempts :one",
            "#state_key = :queued",
            running="running",
            now=self._clock(),
            one=1,
            queued="queued",
        )
        return None if taken is None else job_from_item(taken)

    def finish_job(self, job_id: int | str, result: ImageResult) -> None:
        pk, sk = str(job_id).split("|", 1)
        finish = {
            "Update": {
                "TableName": self._jobs,
                "Key": to_wire({"pk": pk, "sk": sk}),
                **update_args(
                    "SET #state = :done, #result = :result, #finished_at = :finished_at, #finished_day = "
                    ":finished_day, #expires_at = :expires_at REMOVE #state_key, #state_since",
                    "attribute_exists(#pk)",  # deleted meanwhile (the message or file was): nothing to record
                    done="done",
                    **self._finished(result, self._clock()),
                ),
            }
        }
        reasons = self._transact([finish, self._touch_message(pk, ready=True)])
        if reasons and reasons[0] == "None":  # the reply isn't waiting (or the message is deleted): no hint
            self._transact([finish, self._touch_message(pk, ready=False)])

    def _finished(self, result: ImageResult, now: float) -> dict:
        return {
            "result": json.dumps(result_to_dict(result)),
            "finished_at": now,
            "finished_day": utc_day(now),
            "expires_at": int(now + self._retention),
        }

    def _touch_message(self, pk: str, *, ready: bool) -> dict:
        """A transaction's part: the message's jobs changed, so a reply claimed on what was read before fails; with
        ready, the message is marked for the reply sweep too (messages_ready_to_reply checks it)."""
        if not ready:
            update = update_args("ADD #revision :one", "attribute_exists(#pk)", one=1)
        else:
            update = update_args(
                "ADD #revision :one SET #state_key = :ready, #state_since = :now",
                "attribute_exists(#pk) AND #reply_state = :waiting AND attribute_not_exists(#deleted_at)",
                one=1,
                ready="reply-ready",
                now=self._clock(),
                waiting="waiting",
            )
        return {"Update": {"TableName": self._jobs, "Key": to_wire({"pk": pk, "sk": "message"}), **update}}

    def _hint_ready(self, key: dict, now: float) -> None:
        """Mark a waiting message for the reply sweep (it checks whether its jobs are all done)."""
        self._update(
            self._jobs,
            key,
            "SET #state_key = :ready, #state_since = :now",
            "attribute_exists(#pk) AND #reply_state = :waiting AND attribute_not_exists(#deleted_at)",
            ready="reply-ready",
            now=now,
            waiting="waiting",
        )

    def queue_stats(self) -> QueueStats:
        waiting = [
            float(item["created_at"])
            for state in ("queued", "running")
            for item in self._query(
                self._jobs, "#state_key = :state", {"state": state}, index="by_state", projection="#created_at"
            )
        ]
        oldest = min(waiting, default=None)
        return QueueStats(depth=len(waiting), oldest_age_seconds=0.0 if oldest is None else self._clock() - oldest)

    def requeue_interrupted(self) -> int:
        return self.requeue_stalled(float("inf"))

    def requeue_stalled(self, older_than: float) -> int:
        requeued = sum(
            self._update(
                self._jobs,
                item,
                "SET #state = :queued, #state_key = :queued, #state_since = #queue_order",
                "#state_key = :running AND #state_since = :since",  # not claimed again meanwhile
                queued="queued",
                running="running",
                since=item["state_since"],
            )
            is not None
            for item in self._taken_before("running", older_than)
        )
        for item in self._taken_before("reply-posting", older_than):
            # Its post may have reached Slack before the invocation died: the next try looks in the thread first.
            self._return_reply(item, interrupted=True, only_since=item["state_since"])
        return requeued

    def _taken_before(self, state: str, older_than: float) -> Iterator[dict]:
        if older_than == float("inf"):
            return self._query(self._jobs, "#state_key = :state", {"state": state}, index="by_state")
        return self._query(
            self._jobs,
            "#state_key = :state AND #state_since < :older_than",
            {"state": state, "older_than": older_than},
            index="by_state",
        )

    # ---- replies -----------------------------------------------------------------------------------------------

    def claim_reply(
        self, channel_id: str, message_ts: str, *, after_earlier_since: float | None = None
    ) -> tuple[str, list[ImageResult]] | None:
        for _ in range(TRIES):  # again only when a job changed between the read and the claim
            message, jobs = self._message_and_jobs(channel_id, message_ts)
            if message is None or any(job["state"] != "done" for job in jobs):
                return None
            if message["reply_state"] != "waiting" or "deleted_at" in message:  # deleted: no reply
                return None
            if after_earlier_since is not None and self._earlier_unsettled(channel_id, message_ts, after_earlier_since):
                return None  # it goes first (its poster then posts this one)
            claimed = self._update(
                self._jobs,
                message,
                "SET #reply_state = :posting, #state_key = :posting_key, #state_since = :now",
                "#reply_state = :waiting AND attribute_not_exists(#deleted_at) AND #revision = :revision",
                posting="posting",
                posting_key="reply-posting",
                now=self._clock(),
                waiting="waiting",
                revision=message["revision"],
            )
            if claimed is not None:
                return message["thread_ts"], [result_from_dict(json.loads(job["result"])) for job in jobs]
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
        keys = self._query(
            self._jobs,
            f"#waiting_channel = :channel AND #message_ts {bound} :ts",
            {"channel": channel_id, "ts": ts},
            index="by_channel_waiting",
            forward=before is None,
            page=10,
        )
        for page in batched(keys, 10):
            messages = {m["pk"]: m for m in self._get_many(self._jobs, [message_key_of(k) for k in page])}
            for key in page:
                message = messages.get(key["pk"])
                if message and message["reply_state"] != "posted" and "deleted_at" not in message:
                    yield message

    def mark_replied(self, channel_id: str, message_ts: str, reply_ts: str) -> None:
        now = self._clock()
        posted = "SET #reply_state = :posted, #reply_ts = :reply_ts"
        if reply_ts:  # deleted while it was being posted: the reply sweep deletes the reply
            when_deleted = f"{posted}, #state_key = :delete, #state_since = :now REMOVE #waiting_channel"
        else:
            when_deleted = f"{posted} REMOVE #waiting_channel, #state_key, #state_since"
        self._update_first(
            message_key(channel_id, message_ts),
            (
                f"{posted}, #expires_at = :expires_at REMOVE #waiting_channel, #state_key, #state_since",
                "attribute_exists(#pk) AND attribute_not_exists(#deleted_at)",
            ),
            (when_deleted, "attribute_exists(#pk) AND attribute_exists(#deleted_at)"),
            posted="posted",
            reply_ts=reply_ts,
            expires_at=int(now + self._retention),
            delete="reply-delete",
            now=now,
        )

    def release_reply(self, channel_id: str, message_ts: str, *, maybe_posted: bool = False) -> None:
        self._return_reply(message_key(channel_id, message_ts), interrupted=maybe_posted)

    def _return_reply(self, message: dict, *, interrupted: bool, only_since: Decimal | None = None) -> None:
        """A reply being posted waits again (for the sweep, unless the message was deleted meanwhile)."""
        mark = ", #reply_interrupted = :true" if interrupted else ""
        posting = "#reply_state = :posting" + (" AND #state_since = :since" if only_since is not None else "")
        self._update_first(
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
            now=self._clock(),
            true=True,
            since=only_since,
        )

    def reply_interrupted(self, channel_id: str, message_ts: str) -> bool:
        message = self._get(self._jobs, message_key(channel_id, message_ts))
        return bool(message and message.get("reply_interrupted"))

    def messages_ready_to_reply(self) -> list[tuple[str, str]]:
        ready = []
        for hint in self._query(self._jobs, "#state_key = :ready", {"ready": "reply-ready"}, index="by_state"):
            message, jobs = self._message_and_jobs(hint["channel_id"], hint["message_ts"])
            if message is None:
                continue
            if (
                message["reply_state"] == "waiting"
                and "deleted_at" not in message
                and all(job["state"] == "done" for job in jobs)
            ):
                ready.append((message["channel_id"], message["message_ts"]))
            else:  # not due (yet): whatever makes it due marks it again, and a change since makes this fail
                self._update(
                    self._jobs,
                    message,
                    "REMOVE #state_key, #state_since",
                    "#state_key = :ready AND #revision = :revision AND #reply_state = :state",
                    ready="reply-ready",
                    revision=message["revision"],
                    state=message["reply_state"],
                )
        return sorted(ready)

    def _message_and_jobs(
        self, channel_id: str, message_ts: str, *, live_only: bool = True
    ) -> tuple[dict | None, list[dict]]:
        """The message's item and its jobs in post order, read consistently; live_only: what hasn't expired."""
        now = self._clock()
        items = [
            item
            for item in self._query(self._jobs, "#pk = :pk", {"pk": message_key(channel_id, message_ts)["pk"]})
            if is_live(item, now) or not live_only
        ]
        message = next((item for item in items if item["sk"] == "message"), None)
        jobs = sorted((item for item in items if item["sk"].startswith("file#")), key=lambda j: int(j["position"]))
        return message, jobs

    # ---- the label cache ---------------------------------------------------------------------------------------

    def cached_labels(self, cache_key: str, *, newer_than: float) -> tuple[Label, ...] | None:
        item = self._get(self._jobs, {"pk": "cache#" + cache_key, "sk": "labels"})
        if item is None or not is_live(item, self._clock()) or float(item["created_at"]) < newer_than:
            return None
        return tuple(label_from_dict(x) for x in json.loads(item["labels"]))

    def cache_labels(self, cache_key: str, labels: tuple[Label, ...]) -> None:
        now = self._clock()
        item = {
            "pk": "cache#" + cache_key,
            "sk": "labels",
            "labels": json.dumps([label_to_dict(label) for label in labels]),
            "created_at": now,
            "state_key": "cache",  # by_state: the purge finds them oldest first
            "state_since": now,
            "expires_at": int(now + ANALYSIS_CACHE_DAYS * DAY),
        }
        self._db.put_item(TableName=self._jobs, Item=to_wire(item))

    def purge_label_cache(self, older_than: float) -> int:
        stale = self._query(
            self._jobs,
            "#state_key = :cache AND #state_since < :older_than",
            {"cache": "cache", "older_than": older_than},
            index="by_state",
        )
        # Conditional: the index lags, and the same key may have been cached afresh since.
        return sum(self._delete(self._jobs, item, "#created_at < :older_than", older_than=older_than) for item in stale)

    # ---- the Home tab ------------------------------------------------------------------------------------------

    def labelling_summary(
        self,
        since: float,
        *,
        top_labels: int = 10,
        recent_errors: int = 10,
        channel_ids: Collection[str] | None = None,
    ) -> LabellingSummary:
        now = self._clock()
        finished = [
            item
            for day in utc_days(max(since, now - self._retention), now)
            for item in self._query(
                self._jobs,
                "#finished_day = :day AND #finished_at >= :since",
                {"day": day, "since": since, "now": now},
                index="by_finish_day",
                where="attribute_not_exists(#expires_at) OR #expires_at > :now",
            )
            if channel_ids is None or item["channel_id"] in channel_ids
        ]
        return summarize(finished, top_labels, recent_errors)

    # ---- settings ----------------------------------------------------------------------------------------------

    def get_overrides(self, channel_id: str) -> ChannelOverrides:
        item = self._get(self._settings, {"channel_id": channel_id}) or {}
        return ChannelOverrides(
            threshold=None if item.get("threshold") is None else float(item["threshold"]),
            max_labels=None if item.get("max_labels") is None else int(item["max_labels"]),
            enabled=item.get("enabled"),
            tags=item.get("tags"),
            include=None if item.get("include") is None else tuple(item["include"]),
            exclude=None if item.get("exclude") is None else tuple(item["exclude"]),
        )

    def save_overrides(
        self, channel_id: str, overrides: ChannelOverrides, *, fields: Collection[str] | None = None
    ) -> None:
        """An update, never a put: of the fields written (all, or `fields`), those set are SET, those reset to None
        REMOVEd; anything else in the item is kept."""
        values = {name: getattr(overrides, name) for name in SETTINGS_FIELDS if fields is None or name in fields}
        given = {name: list(v) if isinstance(v, tuple) else v for name, v in values.items() if v is not None}
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in [*given, "updated_at"])
        reset = [name for name, value in values.items() if value is None]
        if reset:
            update += " REMOVE " + ", ".join(f"#{name}" for name in reset)
        self._db.update_item(
            TableName=self._settings,
            Key=to_wire({"channel_id": channel_id}),
            **update_args(update, **given, updated_at=self._clock()),
        )

    # ---- the tag index -----------------------------------------------------------------------------------------

    def index_images(self, images: list[IndexedImage]) -> int:
        return sum(self._index_image(image) for image in images)

    def _index_image(self, image: IndexedImage) -> bool:
        """Write the image's item and one entry per stem; False (and nothing left) when the message or the file was
        deleted meanwhile. Checked after writing: a deletion in between either sees the entries or is seen."""
        labels = sorted(image.labels, key=lambda label: label.confidence, reverse=True)
        stems = sorted({stem for name in label_names(labels) for stem in index_stems(name)})
        sk = index_sort_key(image.message_ts, image.file_id)
        expires_at = int(image.posted_at + self._retention)
        item = {
            "pk": "image#" + image.channel_id,
            "sk": sk,
            "file_id": image.file_id,  # by_file
            "channel_id": image.channel_id,
            "channel_type": image.channel_type,
            "message_ts": image.message_ts,
            "thread_ts": image.thread_ts,
            "user_id": image.user_id,
            "labels": json.dumps([label_to_dict(label) for label in labels]),
            "stems": stems,
            "expires_at": expires_at,
        }
        self._register_channel(image.channel_id)
        puts = [item, *({**key, "stems": stems, "expires_at": expires_at} for key in word_keys(item))]
        private = posted_while_private(image.channel_type)
        if private:
            puts.append({**private_marker(item), "expires_at": expires_at})
        previous = self._get(self._tags, item)  # indexed before: what it had and has no more goes
        kept = {key["pk"] for key in word_keys(item)}
        stale = [] if previous is None else [key for key in word_keys(previous) if key["pk"] not in kept]
        if previous is not None and not private:
            stale.append(private_marker(previous))
        self._write_many(self._tags, puts=puts, deletes=stale)
        if self._deleted(image):
            self._drop_images([item])
            return False
        return True

    def _deleted(self, image: IndexedImage) -> bool:
        """Whether the image's message or its file was deleted in Slack."""
        now = self._clock()
        keys = [message_key(image.channel_id, image.message_ts), deleted_file_key(image.file_id)]
        found = [item for item in self._get_many(self._jobs, keys) if is_live(item, now)]
        return any(item["sk"] == "file" or "deleted_at" in item for item in found)

    def _register_channel(self, channel_id: str) -> None:
        """The registry the purge walks and a search of every channel reads (instead of a Scan)."""
        if channel_id not in self._registered_channels:
            self._db.put_item(TableName=self._tags, Item=to_wire({"pk": "channels", "sk": channel_id}))
            self._registered_channels.add(channel_id)

    def _channels(self) -> list[str]:
        return [item["sk"] for item in self._query(self._tags, "#pk = :pk", {"pk": "channels"})]

    def search_images(
        self, words: tuple[str, ...], *, channel_id: str | None, since: float | None = None, limit: int = 10
    ) -> list[IndexedImage]:
        stems = [index_stems(word) for word in words]
        if not words or not all(stems):
            return []
        wanted = list(dict.fromkeys(itertools.chain.from_iterable(stems)))
        channels = [channel_id] if channel_id is not None else self._channels()
        # Newest first across channels: each channel's entries come newest first, so merging them is enough.
        found = heapq.merge(
            *(itertools.islice(self._matching_entries(c, wanted, since), limit) for c in channels),
            key=lambda entry: entry["sk"],
            reverse=True,
        )
        entries = list(itertools.islice(found, limit))
        keys = [{"pk": "image#" + entry["pk"].split("#")[1], "sk": entry["sk"]} for entry in entries]
        images = {(i["pk"], i["sk"]): i for i in self._get_many(self._tags, keys) if is_live(i, self._clock())}
        wanted_set = frozenset(wanted)
        return [indexed_image(images[k["pk"], k["sk"]], wanted_set) for k in keys if (k["pk"], k["sk"]) in images]

    def _matching_entries(self, channel_id: str, stems: list[str], since: float | None) -> Iterator[dict]:
        """The first stem's entries in the channel, newest first, that have every other stem too."""
        key = "#pk = :pk" + ("" if since is None else " AND #sk >= :lowest")
        values = {"pk": f"word#{channel_id}#{stems[0]}", "now": self._clock()}
        if since is not None:
            values["lowest"] = index_sort_key_at(since)
        others = [f"contains(#stems, :stem{n})" for n in range(1, len(stems))]
        values.update({f"stem{n}": stem for n, stem in enumerate(stems[1:], 1)})
        return self._query(
            self._tags,
            key,
            values,
            forward=False,
            page=SEARCH_PAGE,
            where=" AND ".join(["#expires_at > :now", *others]),
            consistent=False,
        )

    def channel_is_public(self, channel_id: str) -> bool:
        now = self._clock()
        live = "#expires_at > :now"
        has_images = self._query(
            self._tags, "#pk = :pk", {"pk": "image#" + channel_id, "now": now}, forward=False, where=live, page=10
        )
        if next(has_images, None) is None:
            return False
        private = self._query(
            self._tags,
            "#pk = :pk AND begins_with(#sk, :private)",
            {"pk": "channel#" + channel_id, "private": "private#", "now": now},
            forward=False,
            where=live,
            page=10,
        )
        return next(private, None) is None

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        # Marked first: an index_images or claim_reply running now then sees it.
        self._mark_deleted(channel_id, message_ts)
        prefix = index_sort_key(message_ts, "")
        images = [
            item
            for item in self._query(
                self._tags, "#pk = :pk AND begins_with(#sk, :prefix)", {"pk": "image#" + channel_id, "prefix": prefix}
            )
            if item["message_ts"] == message_ts
        ]
        self._drop_images(images)
        # Its jobs hold labels and file names: they go too (a running one's finish_job then updates nothing).
        jobs = self._query(
            self._jobs,
            "#pk = :pk AND begins_with(#sk, :file)",
            {"pk": message_key(channel_id, message_ts)["pk"], "file": "file#"},
        )
        self._write_many(self._jobs, deletes=jobs)
        return len(images)

    def forget_file(self, file_id: str) -> int:
        now = self._clock()
        self._put_unless_live(
            self._jobs, {**deleted_file_key(file_id), "deleted_at": now, "expires_at": int(now + self._retention)}, now
        )
        job_keys = list(self._query(self._jobs, "#file_id = :file_id", {"file_id": file_id}, index="by_file"))
        jobs = self._get_many(self._jobs, job_keys)
        images = self._images_of_file(file_id, jobs)
        self._drop_images(images)
        for job in jobs:
            delete = {"Delete": {"TableName": self._jobs, "Key": to_wire(primary_key(job))}}
            if self._transact([delete, self._touch_message(job["pk"], ready=False)]):  # no message: just the job
                self._write_many(self._jobs, deletes=[job])
        for channel_id, message_ts in {(job["channel_id"], job["message_ts"]) for job in jobs}:
            self._after_file_removed(channel_id, message_ts)
        return len(images)

    def _images_of_file(self, file_id: str, jobs: list[dict]) -> list[dict]:
        """Its index items: by_file's, and (read from the table, as the index lags) those of its jobs' messages."""
        keys = {
            (k["pk"], k["sk"])
            for k in self._query(self._tags, "#file_id = :file_id", {"file_id": file_id}, index="by_file")
        }
        keys |= {("image#" + job["channel_id"], index_sort_key(job["message_ts"], file_id)) for job in jobs}
        return self._get_many(self._tags, [{"pk": pk, "sk": sk} for pk, sk in keys])

    def _after_file_removed(self, channel_id: str, message_ts: str) -> None:
        """A message left without images counts as deleted (its reply goes too); else its reply may be due now."""
        _, jobs = self._message_and_jobs(channel_id, message_ts)
        if any(not job.get("result") or not json.loads(job["result"]).get("skipped") for job in jobs):
            self._hint_ready(message_key(channel_id, message_ts), self._clock())
        else:
            self._mark_deleted(channel_id, message_ts)

    def _mark_deleted(self, channel_id: str, message_ts: str) -> None:
        """No reply is posted for it any more, and the reply sweep deletes one already posted."""
        key = message_key(channel_id, message_ts)
        for _ in range(TRIES):  # again only when its reply state changed between the read and the write
            message = self._get(self._jobs, key)
            if message is None or "deleted_at" in message:
                return
            now = self._clock()
            posted = message["reply_state"] == "posted" and message.get("reply_ts")
            update = "SET #deleted_at = :now, #expires_at = :expires_at"
            if posted:
                update += ", #state_key = :delete, #state_since = :now REMOVE #waiting_channel"
            elif message["reply_state"] == "posting":  # the stall sweep still needs to find it
                update += " REMOVE #waiting_channel"
            else:
                update += " REMOVE #waiting_channel, #state_key, #state_since"
            if self._update(
                self._jobs,
                key,
                update,
                "#reply_state = :state AND attribute_not_exists(#deleted_at)",
                now=now,
                expires_at=int(now + self._retention),
                state=message["reply_state"],
                delete="reply-delete",
            ):
                return

    def replies_to_delete(self) -> list[tuple[str, str, str]]:
        hints = self._query(self._jobs, "#state_key = :delete", {"delete": "reply-delete"}, index="by_state")
        messages = self._get_many(self._jobs, [message_key_of(hint) for hint in hints])
        return [
            (m["channel_id"], m["message_ts"], m["reply_ts"])
            for m in messages
            if "deleted_at" in m and not m.get("reply_deleted") and m["reply_state"] == "posted" and m.get("reply_ts")
        ]

    def mark_reply_deleted(self, channel_id: str, message_ts: str) -> None:
        self._update(
            self._jobs,
            message_key(channel_id, message_ts),
            "SET #reply_deleted = :true REMOVE #state_key, #state_since",
            "attribute_exists(#pk)",
            true=True,
        )

    def _drop_images(self, images: Iterable[dict]) -> None:
        """Delete index items with their word entries and private markers."""
        keys = [key for image in images for key in (image, *index_entries(image))]
        self._write_many(self._tags, deletes=keys)

    # ---- retention ---------------------------------------------------------------------------------------------

    def purge_index(self, older_than: float, *, batch: int = 1000) -> int:
        """Each channel's images posted before older_than (their entries with them). Deleted files' markers go by
        TTL."""
        purged = 0
        for channel_id in self._channels():
            old = self._query(
                self._tags,
                "#pk = :pk AND #sk < :below",
                {"pk": "image#" + channel_id, "below": index_sort_key_at(older_than)},
                page=batch,
            )
            for images in batched(old, batch):
                self._drop_images(images)
                purged += len(images)
        return purged

    def purge_finished_jobs(self, older_than: float, *, batch: int = 1000) -> int:
        """Jobs finished before older_than (their results hold labels, file names and errors); a message left with no
        job and a settled reply goes as well (a later "Label this image" on it labels it afresh)."""
        purged, messages = 0, set()
        for day in utc_days(older_than - PURGE_LOOKBACK_DAYS * DAY, older_than):
            done = self._query(
                self._jobs,
                "#finished_day = :day AND #finished_at < :older_than",
                {"day": day, "older_than": older_than},
                index="by_finish_day",
                page=batch,
            )
            for jobs in batched(done, batch):
                self._write_many(self._jobs, deletes=jobs)
                purged += len(jobs)
                messages.update((job["channel_id"], job["message_ts"]) for job in jobs)
        for channel_id, message_ts in messages:
            self._purge_settled_message(channel_id, message_ts, older_than)
        return purged

    def _purge_settled_message(self, channel_id: str, message_ts: str, older_than: float) -> None:
        message, jobs = self._message_and_jobs(channel_id, message_ts, live_only=False)
        if message is None or jobs or float(message["created_at"]) >= older_than or message["reply_state"] != "posted":
            return
        if "deleted_at" in message and not message.get("reply_deleted"):
            return  # its reply is still to be deleted
        self._delete(self._jobs, message, "#revision = :revision", revision=message["revision"])

    def close(self) -> None:
        if self._owns_client:
            self._db.close()

    # ---- DynamoDB calls ----------------------------------------------------------------------------------------

    def _get(self, table: str, key: dict) -> dict | None:
        item = self._db.get_item(TableName=table, Key=to_wire(primary_key(key)), ConsistentRead=True).get("Item")
        return None if item is None else from_wire(item)

    def _get_many(self, table: str, keys: Iterable[dict]) -> list[dict]:
        """The items (consistent reads) of those keys that exist, in no particular order."""
        unique = list({tuple(sorted(primary_key(key).items())): primary_key(key) for key in keys}.values())
        found = []
        for chunk in batched(unique, 100):
            request = {table: {"Keys": [to_wire(key) for key in chunk], "ConsistentRead": True}}
            while request:
                answer = self._db.batch_get_item(RequestItems=request)
                found += [from_wire(item) for item in answer["Responses"].get(table, [])]
                request = answer.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(random.uniform(0.01, 0.05))  # noqa: S311 - jitter, not a secret
        return found

    def _query(
        self,
        table: str,
        key_condition: str,
        values: dict,
        *,
        index: str | None = None,
        forward: bool = True,
        where: str | None = None,  # the FilterExpression
        projection: str | None = None,
        page: int | None = None,
        consistent: bool = True,
    ) -> Iterator[dict]:
        """Every item (page by page, as iterated) of a Query; the table's are read consistently, an index's can't be."""
        args = {
            "TableName": table,
            "KeyConditionExpression": key_condition,
            "ScanIndexForward": forward,
            **expression_args(key_condition, where, projection, **values),
        }
        if index is not None:
            args["IndexName"] = index
        elif consistent:
            args["ConsistentRead"] = True
        if where:
            args["FilterExpression"] = where
        if projection:
            args["ProjectionExpression"] = "#pk, #sk, " + projection
            args["ExpressionAttributeNames"].update({"#pk": "pk", "#sk": "sk"})
        if page:
            args["Limit"] = page
        while True:
            answer = self._db.query(**args)
            yield from (from_wire(item) for item in answer["Items"])
            if "LastEvaluatedKey" not in answer:
                return
            args["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _update(self, table: str, key: dict, update: str, condition: str | None = None, **values) -> dict | None:
        """The item after the update, or None when the condition failed."""
        args = {"TableName": table, "Key": to_wire(primary_key(key)), "ReturnValues": "ALL_NEW"}
        args.update(update_args(update, condition, **values))
        try:
            return from_wire(self._db.update_item(**args)["Attributes"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise

    def _update_first(self, key: dict, *variants: tuple[str, str], **values) -> None:
        """Apply the first of (update, condition) whose condition holds; the conditions exclude one another, so a
        change in between makes all fail and the round is tried again."""
        for _ in range(2):
            for update, condition in variants:
                if self._update(self._jobs, key, update, condition, **values) is not None:
                    return

    def _delete(self, table: str, key: dict, condition: str, **values) -> bool:
        try:
            self._db.delete_item(TableName=table, Key=to_wire(primary_key(key)), **condition_args(condition, **values))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _put_unless_live(self, table: str, item: dict, now: float) -> dict | None:
        """Put the item unless a live one has its key; returns that one (then nothing was written)."""
        try:
            self._db.put_item(
                TableName=table,
                Item=to_wire(item),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **condition_args("attribute_not_exists(#pk) OR #expires_at <= :now", now=now),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return from_wire(exc.response.get("Item") or {}) or self._get(table, item)
            raise
        return None

    def _transact(self, items: list[dict]) -> list[str] | None:
        """None when written; else each part's cancellation reason ("None": that part was fine)."""
        for attempt in itertools.count(1):
            try:
                self._db.transact_write_items(TransactItems=items)
                return None
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                if set(reasons) <= {"None", "ConditionalCheckFailed"}:
                    return reasons
                if not TRANSIENT_CANCELLATIONS.intersection(reasons) or attempt == TRIES:
                    raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")

    def _write_many(self, table: str, *, puts: Iterable[dict] = (), deletes: Iterable[dict] = ()) -> None:
        """BatchWriteItem, 25 at a time, retrying what DynamoDB left unprocessed."""
        requests = {("put", *primary_key(p).values()): {"PutRequest": {"Item": to_wire(p)}} for p in puts}
        for key in deletes:
            requests.setdefault(
                ("delete", *primary_key(key).values()), {"DeleteRequest": {"Key": to_wire(primary_key(key))}}
            )
        for chunk in batched(requests.values(), 25):
            pending = {table: list(chunk)}
            while pending:
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if pending:
                    time.sleep(random.uniform(0.01, 0.05))  # noqa: S311 - jitter, not a secret


# ---- keys and items ----------------------------------------------------------------------------------------------


def message_key(channel_id: str, message_ts: str) -> dict:
    return {"pk": f"msg#{channel_id}#{message_ts}", "sk": "message"}


def message_key_of(item: dict) -> dict:
    """The message item's key from any item of its partition."""
    return {"pk": item["pk"], "sk": "message"}


def deleted_file_key(file_id: str) -> dict:
    return {"pk": "deleted-file#" + file_id, "sk": "file"}


def primary_key(item: dict) -> dict:
    """The item's key: pk and sk (Jobs, Tags), or channel_id (Settings)."""
    return {"pk": item["pk"], "sk": item["sk"]} if "pk" in item else {"channel_id": item["channel_id"]}


def index_sort_key(message_ts: str, file_id: str) -> str:
    """An index entry's sort key: the message ts with its seconds zero-padded (string order is time order), then
    the file."""
    return f"{format_micro(ts_microseconds(message_ts))}#{file_id}"


def index_sort_key_at(seconds: float) -> str:
    """The sort key every entry of a message posted at or after `seconds` is at or above."""
    return format_micro(int(seconds * 1_000_000))


def format_micro(micro: int) -> str:
    return f"{micro // 1_000_000:010d}.{micro % 1_000_000:06d}"


def word_keys(image: dict) -> list[dict]:
    """The keys of an index item's word entries: one per stem."""
    channel_id = image["pk"].split("#", 1)[1]
    return [{"pk": f"word#{channel_id}#{stem}", "sk": image["sk"]} for stem in image.get("stems", ())]


def index_entries(image: dict) -> list[dict]:
    """The keys of everything an index item brings: its word entries and private marker (which may not exist)."""
    return [*word_keys(image), private_marker(image)]


def private_marker(image: dict) -> dict:
    """The channel's note that this image was posted while it was private (see channel_is_public)."""
    return {"pk": "channel#" + image["pk"].split("#", 1)[1], "sk": "private#" + image["sk"]}


def posted_while_private(channel_type: str) -> bool:
    """As SqliteStore decides it (channel_type > 'channel'): group, im and mpim; "" (Slack didn't say) is neither."""
    return channel_type > "channel"


def job_from_item(item: dict) -> Job:
    return Job(
        id=f"{item['pk']}|{item['sk']}",
        channel_id=item["channel_id"],
        message_ts=item["message_ts"],
        thread_ts=item["thread_ts"],
        file=json.loads(item["file"]),
        attempts=int(item["attempts"]),
        user_id=item.get("user_id", ""),
        channel_type=item.get("channel_type", ""),
    )


def indexed_image(item: dict, stems: frozenset[str]) -> IndexedImage:
    """An index item as a search result; matched: the names a searched stem is in."""
    labels = tuple(label_from_dict(x) for x in json.loads(item["labels"]))
    return IndexedImage(
        channel_id=item["channel_id"],
        channel_type=item["channel_type"],
        message_ts=item["message_ts"],
        thread_ts=item["thread_ts"],
        file_id=item["file_id"],
        user_id=item["user_id"],
        labels=labels,
        matched=frozenset(name for name in label_names(labels) if stems.intersection(index_stems(name))),
    )


def summarize(finished: list[dict], top_labels: int, recent_errors: int) -> LabellingSummary:
    """SqliteStore's summary of finished jobs: counts, the labels on most images, the latest errors."""
    results = [(item, result_from_dict(json.loads(item["result"]))) for item in finished]
    per_label = Counter(name for _, r in results for name in {label.name for label in r.labels} if name)
    errors = sorted(
        ((item, r) for item, r in results if r.error is not None),
        key=lambda pair: (pair[0]["finished_at"], pair[0]["pk"], pair[0]["sk"]),
        reverse=True,
    )
    return LabellingSummary(
        images_labelled=sum(1 for _, r in results if r.error is None and not r.skipped),
        images_failed=len(errors),
        top_labels=tuple(sorted(per_label.items(), key=lambda pair: (-pair[1], pair[0]))[:top_labels]),
        recent_errors=tuple(
            LabellingError(float(item["finished_at"]), item["channel_id"], r.file_name or "", r.error)
            for item, r in errors[:recent_errors]
        ),
    )


def is_live(item: dict, now: float) -> bool:
    """Not past its expires_at: TTL deletes such items up to ~48 h later, and until then reads skip them."""
    return "expires_at" not in item or item["expires_at"] > now


def utc_day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def utc_days(start: float, end: float) -> list[str]:
    """The days (by_finish_day's partitions) from start's to end's, both included."""
    first = datetime.fromtimestamp(max(start, 0), UTC).date()
    last = datetime.fromtimestamp(max(end, 0), UTC).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# ---- the stemmer -------------------------------------------------------------------------------------------------

_stemmer_lock = threading.Lock()


@functools.cache
def _stemmer() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    db.execute(f"CREATE VIRTUAL TABLE words USING fts5(text, tokenize = '{TAG_TOKENIZER}')")
    db.execute("CREATE VIRTUAL TABLE terms USING fts5vocab(words, 'instance')")  # each term with its offset
    return db


@functools.lru_cache(maxsize=50_000)
def index_stems(text: str) -> tuple[str, ...]:
    """The terms SqliteStore's full-text index makes of text (lower case, no diacritics, porter stems), in order:
    SQLite's own FTS5 tokenizer makes them here too, so both indexes match the same words."""
    with _stemmer_lock:
        db = _stemmer()
        db.execute("INSERT INTO words (rowid, text) VALUES (1, ?)", (text,))
        try:
            return tuple(term for (term,) in db.execute("SELECT term FROM terms ORDER BY offset"))
        finally:
            db.execute("DELETE FROM words WHERE rowid = 1")


# ---- the wire format ---------------------------------------------------------------------------------------------


def to_wire(item: dict) -> dict:
    return {name: _serializer.serialize(as_dynamodb(value)) for name, value in item.items()}


def from_wire(item: dict) -> dict:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


# DynamoDB's largest number: an infinite bound ("purge everything older than forever") compares as this.
LARGEST_NUMBER = Decimal("9.9999999999999999999999999999999999999E+125")


def as_dynamodb(value):
    """DynamoDB numbers are Decimals (a float's shortest repr, exactly); infinities become its largest ones."""
    if isinstance(value, float):
        if math.isinf(value):
            return LARGEST_NUMBER.copy_sign(Decimal(value))
        return Decimal(repr(value))
    if isinstance(value, list | tuple):
        return [as_dynamodb(v) for v in value]
    return value


def expression_args(*expressions: str | None, **values) -> dict:
    """ExpressionAttributeNames for every #name in the expressions (#name stands for the attribute name, so no
    reserved word can clash) and ExpressionAttributeValues for the values they use as :name."""
    text = " ".join(e for e in expressions if e)
    args: dict = {}
    if names := {f"#{name}": name for name in re.findall(r"#(\w+)", text)}:
        args["ExpressionAttributeNames"] = names
    if used := {f":{name}": values[name] for name in dict.fromkeys(re.findall(r":(\w+)", text))}:
        args["ExpressionAttributeValues"] = to_wire(used)
    return args


def update_args(update: str, condition: str | None = None, **values) -> dict:
    args = {"UpdateExpression": update, **expression_args(update, condition, **values)}
    if condition:
        args["ConditionExpression"] = condition
    return args


def condition_args(condition: str, **values) -> dict:
    return {"ConditionExpression": condition, **expression_args(condition, **values)}
