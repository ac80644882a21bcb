"""The "Label this image" message shortcut: label any message's images on request, also where `/labels off`."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.listeners.files import record_images
from bot.pipeline import is_candidate_image, job_file
from bot.services import Services

log = logging.getLogger(__name__)

CALLBACK_ID = "label_this_image"
NO_IMAGES = "There's no image in that message for me to label."
ALREADY_LABELLED = "I've already labelled the images in that message; my answer is in its thread."


def register(app: App, services: Services) -> None:
    @app.message_shortcut(CALLBACK_ID)
    def label_this_image(ack, shortcut: dict, respond) -> None:
        # Recorded before the ack, like a posted image: if the store fails, Slack shows the user an error.
        notice = label_on_demand(shortcut, services)
        ack()
        if notice:
            tell_user(services, shortcut, notice, respond)


def label_on_demand(shortcut: dict, services: Services) -> str | None:
    """Record the message's images as jobs (the reply goes to its thread); a note for the user, or None."""
    channel_id = (shortcut.get("channel") or {}).get("id")
    message = shortcut.get("message") or {}
    if not isinstance(channel_id, str) or not has_images(message):
        return NO_IMAGES
    # No bot_id: asked for explicitly, so even the bot's own uploads count.
    added = record_images({**message, "channel": channel_id}, services.store, services.pool)
    return None if added else ALREADY_LABELLED


def has_images(message: dict) -> bool:
    files = message.get("files")
    if not isinstance(message.get("ts"), str) or not isinstance(files, list):
        return False
    return any(isinstance(f, dict) and isinstance(f.get("id"), str) and is_candidate_image(job_file(f)) for f in files)


def tell_user(services: Services, shortcut: dict, text: str, respond) -> None:
    """An ephemeral note in the channel; through the response_url when the bot can't post there."""
    channel_id = (shortcut.get("channel") or {}).get("id")
    user_id = (shortcut.get("user") or {}).get("id")
    try:
        services.slack.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
        return
    except SlackApiError as exc:
        log.info("ephemeral note in %s failed (%s); using the response_url", channel_id, exc.response.get("error"))
    if respond is None:  # no response_url in the payload
        return
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # best effort: the user just sees no note
        log.warning("could not tell the user about the shortcut: %s", type(exc).__name__)
