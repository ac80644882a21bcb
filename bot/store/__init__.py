"""The Store protocol: channel settings, the durable job queue and the per-message reply state."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides


@dataclass(frozen=True)
class Job:
    """Label one file of one message."""

    id: int
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
    channel_type: str  # channel (public) | group (private) | im | mpim | "" (Slack didn't say: treated as private)
    message_ts: str
    thread_ts: str
    file_id: str
    user_id: str
    labels: tuple[Label, ...]  # most confident first; parents and aliases are searchable too

    @property
    def posted_at(self) -> float:
        return float(self.message_ts)


def search_words(text: str) -> tuple[str, ...]:
    """The words of a search or a label, lower-cased, as the index splits them (letters and digits)."""
    return tuple(re.findall(r"[^\W_]+", text.lower()))


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
    ) -> int:
        """Record one job per file (ignoring any already recorded); returns how many are new."""

    def claim_job(self) -> Job | None:
        """Take the oldest queued job, marking it running, or None when the queue is empty."""

    def finish_job(self, job_id: int, result: ImageResult) -> None: ...

    def claim_reply(self, channel_id: str, message_ts: str) -> tuple[str, list[ImageResult]] | None:
        """When every job of the message is done and no reply is under way: (thread_ts, results in post order)."""

    def mark_replied(self, channel_id: str, message_ts: str, reply_ts: str) -> None: ...

    def release_reply(self, channel_id: str, message_ts: str) -> None:
        """A claimed reply could not be posted; let the next resume try again."""

    def requeue_interrupted(self) -> int:
        """At start-up: jobs and replies a stopped process left running go back to waiting; returns the job count."""

    def messages_ready_to_reply(self) -> list[tuple[str, str]]:
        """(channel, message ts) of messages whose files are all done and whose reply is not posted or under way."""

    def queue_stats(self) -> QueueStats: ...

    def labelling_summary(self, since: float, *, top_labels: int = 10, recent_errors: int = 10) -> LabellingSummary:
        """Jobs finished at or after `since` (epoch seconds), for the App Home tab."""

    # ---- the tag index (/labels find) ----------------------------------------------------------------------

    def index_images(self, images: list[IndexedImage]) -> int:
        """Add (or replace) labelled images, skipping those whose message was deleted meanwhile; returns how many."""

    def search_images(
        self, words: tuple[str, ...], *, channel_id: str | None, since: float | None = None, limit: int = 10
    ) -> list[IndexedImage]:
        """Images with every word among their labels, parents or aliases, newest first."""

    def channel_is_public(self, channel_id: str) -> bool:
        """Whether the index has images of this channel, every one posted while it was public."""

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        """The message was deleted in Slack: drop its index entries and note it so its reply goes too."""

    def forget_file(self, file_id: str) -> int:
        """The file was deleted in Slack: drop its index entries."""

    def replies_to_delete(self) -> list[tuple[str, str, str]]:
        """(channel, message ts, reply ts) of the bot's posted replies to messages deleted since."""

    def mark_reply_deleted(self, channel_id: str, message_ts: str) -> None: ...

    def purge_index(self, older_than: float) -> int:
        """Drop index entries of images posted before `older_than` (epoch seconds); returns how many."""

    def get_overrides(self, channel_id: str) -> ChannelOverrides: ...

    def save_overrides(self, channel_id: str, overrides: ChannelOverrides) -> None: ...

    def close(self) -> None: ...


def result_to_dict(result: ImageResult) -> dict:
    return {
        "file_id": result.file_id,
        "file_name": result.file_name,
        "error": result.error,
        "skipped": result.skipped,
        "labels": [
            {"name": x.name, "confidence": x.confidence, "parents": list(x.parents), "aliases": list(x.aliases)}
            for x in result.labels
        ],
    }


def result_from_dict(data: dict) -> ImageResult:
    return ImageResult(
        file_id=data["file_id"],
        file_name=data["file_name"],
        error=data.get("error"),
        skipped=data.get("skipped", False),
        labels=tuple(
            Label(x["name"], x["confidence"], tuple(x.get("parents", ())), tuple(x.get("aliases", ())))
            for x in data.get("labels", ())
        ),
    )
