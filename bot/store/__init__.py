"""The Store protocol: channel settings, the durable job queue and the per-message reply state; what both stores
(sqlite.py, dynamodb.py) share."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides


@dataclass(frozen=True)
class Job:
    """Label one file of one message."""

    id: int | str  # SqliteStore: a row id; DynamoStore: "<pk>|<sk>"
    channel_id: str
    message_ts: str
    thread_ts: str
    file: dict
    attempts: int
    user_id: str = ""  # who posted the message
    channel_type: str = ""  # the event's channel_type: channel (public) | group (private) | im | mpim


@dataclass(frozen=True)
class QueueStats:
    depth: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class LabellingError:
    """One file that could not be labelled: when, where, which, and the short reason its reply gave."""

    finished_at: float
    channel_id: str
    file_name: str
    reason: str


@dataclass(frozen=True)
class LabellingSummary:
    """Files finished in a period: how many were labelled, how many failed, the top labels, the latest errors."""

    images_labelled: int
    images_failed: int
    top_labels: tuple[tuple[str, int], ...]  # (label, images with it), most frequent first
    recent_errors: tuple[LabellingError, ...]  # newest first


@dataclass(frozen=True)
class IndexedImage:
    """One labelled image in the tag index."""

    channel_id: str
    channel_type: str  # channel (public) | group (private) | im | mpim | "" (unknown: find asks Slack)
    message_ts: str
    thread_ts: str
    file_id: str
    user_id: str
    labels: tuple[Label, ...]  # most confident first; parents and aliases are searchable too
    # From a search: the label names, parents and aliases its words matched (the index's own stemming decides).
    matched: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def posted_at(self) -> float:
        return float(self.message_ts)


def search_words(text: str) -> tuple[str, ...]:
    """The words of a search or a label, lower-cased, as the index splits them (letters and digits)."""
    return tuple(re.findall(r"[^\W_]+", text.lower()))


# How the tag index splits and stems words: SQLite FTS5's tokenizer, which the DynamoDB store runs too.
TAG_TOKENIZER = "porter unicode61 remove_diacritics 2"


def label_names(labels: Iterable[Label]) -> tuple[str, ...]:
    """What the tag index knows of an image: each label's name, parents and aliases, once each."""
    return tuple(dict.fromkeys(name for label in labels for name in (label.name, *label.parents, *label.aliases)))


def ts_microseconds(message_ts: str) -> int:
    """A Slack ts ("seconds.micro") as whole microseconds, so message order is numeric order."""
    seconds, _, fraction = message_ts.partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


class Store(Protocol):
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
        """Record one job per file (ignoring any already recorded); returns how many are new. With `refused` (the
        queue is full), the new files are recorded as done with that reason as their error, so the message's reply
        says it once and the Home tab counts them."""

    def claim_job(self) -> Job | None:
        """Take the oldest queued job, marking it running, or None when the queue is empty."""

    def claim_message_jobs(self, channel_id: str, message_ts: str) -> list[Job]:
        """Take this message's queued jobs (in post order), marking them running: on AWS Lambda the invocation after
        the ack works on the message it recorded."""

    def finish_job(self, job_id: int | str, result: ImageResult) -> None: ...

    def claim_reply(
        self, channel_id: str, message_ts: str, *, after_earlier_since: float | None = None
    ) -> tuple[str, list[ImageResult]] | None:
        """When every job of the message is done and no reply is under way: (thread_ts, results in post order).
        With after_earlier_since (epoch seconds): also only once no earlier message of the channel recorded since
        then is waiting for its reply or being answered (replies go out in message order; older ones block no one)."""

    def mark_replied(self, channel_id: str, message_ts: str, reply_ts: str) -> None: ...

    def release_reply(self, channel_id: str, message_ts: str, *, maybe_posted: bool = False) -> None:
        """A claimed reply could not be posted; the sweep tries again. maybe_posted: the post's outcome is unknown
        (the connection failed), so the next try looks in the thread first."""

    def requeue_interrupted(self) -> int:
        """At start-up: jobs and replies a stopped process left running go back to waiting; returns the job count.
        A reply that was being posted is marked interrupted (see reply_interrupted)."""

    def requeue_stalled(self, older_than: float) -> int:
        """Like requeue_interrupted, for what was taken before older_than (epoch seconds) only: jobs running since
        then go back to the queue, replies being posted since then wait again, marked interrupted. On AWS Lambda no
        process starts, so a scheduled sweep calls this with now minus the function's timeout."""

    def reply_interrupted(self, channel_id: str, message_ts: str) -> bool:
        """Whether a process died while posting this message's reply: it may be in the thread already."""

    def messages_ready_to_reply(self) -> list[tuple[str, str]]:
        """(channel, message ts) of messages whose files are all done and whose reply is not posted or under way,
        in message order per channel."""

    def next_waiting_reply(self, channel_id: str, after_ts: str) -> str | None:
        """The ts of the channel's first message after after_ts whose reply is waiting (done or not), if any."""

    def cached_labels(self, cache_key: str, *, newer_than: float) -> tuple[Label, ...] | None:
        """Labels cached under this key (see bot.pipeline.label_cache_key) at or after newer_than, else None."""

    def cache_labels(self, cache_key: str, labels: tuple[Label, ...]) -> None: ...

    def purge_label_cache(self, older_than: float) -> int:
        """Drop cached labels stored before older_than (epoch seconds); returns how many."""

    def queue_stats(self) -> QueueStats: ...

    def labelling_summary(
        self,
        since: float,
        *,
        top_labels: int = 10,
        recent_errors: int = 10,
        channel_ids: Collection[str] | None = None,
    ) -> LabellingSummary:
        """Jobs finished at or after `since` (epoch seconds), for the App Home tab; only those channels' if given."""

    # ---- the tag index (/labels find) ----------------------------------------------------------------------

    def index_images(self, images: list[IndexedImage]) -> int:
        """Add (or replace) labelled images, skipping those whose message was deleted meanwhile; returns how many."""

    def search_images(
        self, words: tuple[str, ...], *, channel_id: str | None, since: float | None = None, limit: int = 10
    ) -> list[IndexedImage]:
        """Images with every word among their labels, parents or aliases, newest first."""

    def channel_is_public(self, channel_id: str) -> bool:
        """Whether the index has images of this channel and none was posted while it was private (a channel type
        Slack didn't give counts as neither: the caller asks Slack whether the channel is public now)."""

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        """The message was deleted in Slack: drop its index entries and jobs, and note it so its reply goes too."""

    def forget_file(self, file_id: str) -> int:
        """The file was deleted in Slack: drop its index entries and jobs, and never index it again; a message left
        without images counts as deleted (its reply goes too)."""

    def replies_to_delete(self) -> list[tuple[str, str, str]]:
        """(channel, message ts, reply ts) of the bot's posted replies to messages deleted since."""

    def mark_reply_deleted(self, channel_id: str, message_ts: str) -> None: ...

    def purge_index(self, older_than: float) -> int:
        """Drop index entries of images posted before `older_than` (epoch seconds); returns how many."""

    def purge_finished_jobs(self, older_than: float) -> int:
        """Drop finished jobs (their labels, file names and errors) done before `older_than`; returns how many."""

    def get_overrides(self, channel_id: str) -> ChannelOverrides: ...

    def save_overrides(
        self, channel_id: str, overrides: ChannelOverrides, *, fields: Collection[str] | None = None
    ) -> None:
        """Write the channel's overrides: only the named fields (the others as they are in the store, whoever
        changed them meanwhile), or all of them."""

    def close(self) -> None: ...


def label_to_dict(label: Label) -> dict:
    return {
        "name": label.name,
        "confidence": label.confidence,
        "parents": list(label.parents),
        "aliases": list(label.aliases),
    }


def label_from_dict(data: dict) -> Label:
    return Label(data["name"], data["confidence"], tuple(data.get("parents", ())), tuple(data.get("aliases", ())))


def result_to_dict(result: ImageResult) -> dict:
    return {
        "file_id": result.file_id,
        "file_name": result.file_name,
        "error": result.error,
        "skipped": result.skipped,
        "labels": [label_to_dict(label) for label in result.labels],
    }


def result_from_dict(data: dict) -> ImageResult:
    return ImageResult(
        file_id=data["file_id"],
        file_name=data["file_name"],
        error=data.get("error"),
        skipped=data.get("skipped", False),
        labels=tuple(label_from_dict(x) for x in data.get("labels", ())),
    )
