"""The Store protocol: channel settings, the durable job queue and the per-message reply state."""

from __future__ import annotations

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


@dataclass(frozen=True)
class QueueStats:
    depth: int
    oldest_age_seconds: float


class Store(Protocol):
    def enqueue_message(self, channel_id: str, message_ts: str, thread_ts: str, files: list[dict]) -> int:
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
