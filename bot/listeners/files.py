"""Images posted in channels, DMs and threads become jobs; every other message event is acked and ignored."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.jobs import WorkerPool
from bot.pipeline import is_candidate_image, job_file
from bot.services import Services
from bot.store import Store

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.event({"type": "message", "subtype": "file_share"})
    def record_shared_images(event: dict, context) -> None:
        if not services.pipeline.settings_for(str(event.get("channel", ""))).enabled:
            return  # /labels off: only the "Label this image" shortcut labels here
        record_images(event, services.store, services.pool, bot_id=context.bot_id)

    # Deletions drop the tag index entries (before the catch-all below: Bolt runs the first matching listener).
    @app.event({"type": "message", "subtype": "message_deleted"})
    def forget_deleted_message(event: dict) -> None:
        channel_id, deleted_ts = event.get("channel"), event.get("deleted_ts")
        if isinstance(channel_id, str) and isinstance(deleted_ts, str):
            services.store.forget_message(channel_id, deleted_ts)
            services.pool.sweep_soon()  # the worker side deletes the bot's reply to it, if any

    @app.event({"type": "message", "subtype": "message_changed"})
    def forget_tombstoned_message(event: dict) -> None:
        """A deleted message that has thread replies (ours, at least) stays as a tombstone instead."""
        message = event.get("message") if isinstance(event.get("message"), dict) else {}
        channel_id, message_ts = event.get("channel"), message.get("ts")
        if message.get("subtype") == "tombstone" and isinstance(channel_id, str) and isinstance(message_ts, str):
            services.store.forget_message(channel_id, message_ts)
            services.pool.sweep_soon()

    @app.event("file_deleted")
    def forget_deleted_file(event: dict) -> None:
        if isinstance(event.get("file_id"), str):
            services.store.forget_file(event["file_id"])

    @app.event("message")
    def ignore_other_messages() -> None:
        """Acked so Slack never retries; only file_share messages carry images to label."""

    @app.event("file_shared")
    def ignore_file_shared() -> None:
        """Acked as a no-op: the same file arrives in its file_share message, which is what gets labelled."""


def record_images(event: dict, store: Store, pool: WorkerPool, *, bot_id: str | None = None) -> int:
    """Record one job per image of the message; returns how many new jobs (retries and repeats add none)."""
    channel_id, message_ts, files = event.get("channel"), event.get("ts"), event.get("files")
    if not isinstance(channel_id, str) or not isinstance(message_ts, str) or not isinstance(files, list):
        log.debug("ignoring a file_share event without channel, ts or files")
        return 0
    if bot_id and event.get("bot_id") == bot_id:
        return 0
    images = [job_file(f) for f in files if isinstance(f, dict) and isinstance(f.get("id"), str)]
    images = [f for f in images if is_candidate_image(f)]
    if not images:
        return 0
    thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else message_ts
    added = store.enqueue_message(
        channel_id,
        message_ts,
        thread_ts,
        images,
        user_id=str(event.get("user") or ""),
        channel_type=str(event.get("channel_type") or ""),
    )
    pool.notify(added)
    return added
