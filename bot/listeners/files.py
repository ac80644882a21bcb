"""Images posted in channels, DMs and threads become jobs; every other message event is acked and ignored."""

from __future__ import annotations

import logging
import re

from slack_bolt import App

from bot.jobs import Work
from bot.opt_out import POSTER_OPTED_OUT, poster_opted_out
from bot.overload import BUSY, QueueGate
from bot.services import Services
from bot.slack_file_objects import is_candidate_image, job_file
from bot.store import JobQueue

log = logging.getLogger(__name__)

MESSAGE_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")  # Slack's message timestamps: seconds.micro-sequence


def register(app: App, services: Services) -> None:
    def record_shared_images(event: dict, context) -> None:
        channel_id, opted_out = event.get("channel"), False
        if isinstance(channel_id, str):  # else malformed: record_images says so in the log
            settings = services.settings_for(channel_id)
            if not settings.enabled:
                return  # /labels off: only the "Label this image" shortcut labels here
            opted_out = poster_opted_out(event, services.stores.settings)
            if opted_out and not settings.moderation:
                return  # /labels me off or #nolabel, and nothing to check: not even downloaded
        record_images(
            event,
            services.stores.queue,
            services.pool,
            bot_id=context.bot_id,
            gate=services.queue_gate,
            opted_out=opted_out,
        )

    def label_recorded_images(event: dict) -> None:
        """On AWS Lambda, after the ack: label the images the ack recorded (a retried event's are claimed once)."""
        if isinstance(event.get("channel"), str) and isinstance(event.get("ts"), str):
            services.pool.work_on_message(event["channel"], event["ts"])

    def sweep_replies() -> None:
        """On AWS Lambda, after the ack: delete the bot's replies to what was deleted."""
        services.pool.sweep()

    def forget_deleted_message(event: dict) -> None:
        channel_id, deleted_ts = event.get("channel"), event.get("deleted_ts")
        if isinstance(channel_id, str) and isinstance(deleted_ts, str):
            services.stores.deletions.forget_message(channel_id, deleted_ts)
            services.pool.sweep_soon()  # the worker side deletes the bot's reply to it, if any

    def forget_tombstoned_message(event: dict) -> None:
        """A deleted message that has thread replies (ours, at least) stays as a tombstone instead."""
        message = event.get("message") if isinstance(event.get("message"), dict) else {}
        channel_id, message_ts = event.get("channel"), message.get("ts")
        if message.get("subtype") == "tombstone" and isinstance(channel_id, str) and isinstance(message_ts, str):
            services.stores.deletions.forget_message(channel_id, message_ts)
            services.pool.sweep_soon()

    def forget_deleted_file(event: dict) -> None:
        if isinstance(event.get("file_id"), str):
            services.stores.deletions.forget_file(event["file_id"])
            services.pool.sweep_soon()  # a reply left about no image at all is deleted

    def after_ack(work):
        """The listener's work after the ack: Bolt lazy listeners where each request is its own invocation."""
        return [work] if services.pool.works_after_ack else []

    app.event({"type": "message", "subtype": "file_share"})(
        ack=record_shared_images, lazy=after_ack(label_recorded_images)
    )
    # Deletions drop the tag index entries (before the catch-all below: Bolt runs the first matching listener).
    app.event({"type": "message", "subtype": "message_deleted"})(
        ack=forget_deleted_message, lazy=after_ack(sweep_replies)
    )
    app.event({"type": "message", "subtype": "message_changed"})(
        ack=forget_tombstoned_message, lazy=after_ack(sweep_replies)
    )
    app.event("file_deleted")(ack=forget_deleted_file, lazy=after_ack(sweep_replies))

    @app.event("message")
    def ignore_other_messages() -> None:
        """Acked so Slack never retries; only file_share messages carry images to label."""

    @app.event("file_shared")
    def ignore_file_shared() -> None:
        """Acked as a no-op: the same file arrives in its file_share message, which is what gets labelled."""


def record_images(
    event: dict,
    queue: JobQueue,
    pool: Work,
    *,
    bot_id: str | None = None,
    gate: QueueGate | None = None,
    opted_out: bool = False,
) -> int:
    """Record one job per image of the message; returns how many new jobs (retries and repeats add none). opted_out:
    its poster asked not to be labelled (bot.opt_out): its jobs only check moderation.

    A malformed event (Slack's or anyone's with the signing secret) is ignored with a DEBUG line. With a gate whose
    queue is full, the images are recorded as refused instead: the sweep posts the "busy" reply, after the ack."""
    channel_id, message_ts, files = event.get("channel"), event.get("ts"), event.get("files")
    if not isinstance(channel_id, str) or not channel_id:
        log.debug("ignoring a file_share event without a channel")
        return 0
    if not isinstance(message_ts, str) or not MESSAGE_TS.fullmatch(message_ts):
        log.debug("ignoring a file_share event in %s without a valid ts", channel_id)
        return 0
    if not isinstance(files, list):
        log.debug("ignoring the file_share message %s in %s: its files are not a list", message_ts, channel_id)
        return 0
    if bot_id and event.get("bot_id") == bot_id:
        return 0
    without_id = sum(1 for f in files if not isinstance(f, dict) or not isinstance(f.get("id"), str))
    if without_id:
        log.debug("ignoring %d file(s) without an id in message %s in %s", without_id, message_ts, channel_id)
    images = message_images(event)
    if not images:
        return 0
    if opted_out:
        images = [{**image, POSTER_OPTED_OUT: True} for image in images]
    full = gate is not None and not gate.has_room()
    thread_ts = event.get("thread_ts")
    thread_ts = thread_ts if isinstance(thread_ts, str) and MESSAGE_TS.fullmatch(thread_ts) else message_ts
    added = queue.enqueue_message(
        channel_id,
        message_ts,
        thread_ts,
        images,
        user_id=str(event.get("user") or ""),
        channel_type=str(event.get("channel_type") or ""),
        refused=BUSY if full else None,
    )
    if full:
        if added:  # not a retry of a message already recorded
            gate.turned_away(channel_id)
            pool.sweep_soon()  # the sweep thread posts the "busy" reply
        return added
    pool.notify(added)
    return added


def message_images(message: dict) -> list[dict]:
    """What a job keeps of each of the message's files that could be an image (the shortcut asks the same)."""
    files = message.get("files") if isinstance(message.get("files"), list) else []
    images = [job_file(f) for f in files if isinstance(f, dict) and isinstance(f.get("id"), str)]
    return [f for f in images if is_candidate_image(f)]
