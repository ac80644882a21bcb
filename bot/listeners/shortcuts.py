"""The "Label this image" message shortcut: label any message's images on request, also where `/labels off`.

Acked at once; a lazy listener then asks Slack whether the bot is in that conversation (it couldn't answer
otherwise), records the images as jobs with the conversation's type, and tells the user when there is nothing to do.
"""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.conversations import Conversation, look_up
from bot.i18n import N_
from bot.listeners.files import message_images, record_images
from bot.opt_out import poster_opted_out
from bot.services import Services
from bot.slack_api import respond_ephemeral

log = logging.getLogger(__name__)

CALLBACK_ID = "label_this_image"
NO_IMAGES = N_("There's no image in that message for me to label.")
ALREADY_LABELLED = N_("I've already labelled the images in that message; my answer is in its thread.")
NOT_A_MEMBER = N_(
    "I'm not in this conversation, so I can't answer there. Add me first (in a channel: `/invite @labelbot`), "
    "then try *Label this image* again."
)
NOT_RECORDED = N_("Something went wrong on my side and I couldn't take that on; please try again in a moment.")
OPTED_OUT = N_("Whoever posted that asked me not to label their images, so I'll leave this one alone.")


def register(app: App, services: Services) -> None:
    def ack_shortcut(ack) -> None:
        ack()  # within Slack's 3 seconds: everything that calls Slack happens in the lazy listener

    def label_this_image(shortcut: dict, respond) -> None:
        notice = label_on_demand(shortcut, services)
        if notice:
            tell_user(services, shortcut, notice, respond)
        elif services.pool.works_after_ack:  # AWS Lambda: this invocation is the one to label them
            services.pool.work_on_message(shortcut["channel"]["id"], shortcut["message"]["ts"])

    app.message_shortcut(CALLBACK_ID)(ack=ack_shortcut, lazy=[label_this_image])


def label_on_demand(shortcut: dict, services: Services) -> str | None:
    """Record the message's images as jobs (the reply goes to its thread); a note for the user (in English: the
    catalogue's message id), or None."""
    channel_id = (shortcut.get("channel") or {}).get("id")
    message = shortcut.get("message") or {}
    if not isinstance(channel_id, str) or not isinstance(message.get("ts"), str) or not message_images(message):
        return NO_IMAGES
    if poster_opted_out(message, services.stores.settings):
        return OPTED_OUT
    conversation = conversation_for(services, channel_id)
    if conversation is None or conversation.is_member is False:
        return NOT_A_MEMBER
    try:
        # No bot_id: asked for explicitly, so even the bot's own uploads count. The type decides whether
        # `/labels find … in #channel` may show them elsewhere.
        event = {**message, "channel": channel_id, "channel_type": conversation.channel_type}
        added = record_images(event, services.stores.queue, services.pool)
    except Exception:
        log.exception("recording the shortcut's images in %s failed", channel_id)
        return NOT_RECORDED
    return None if added else ALREADY_LABELLED


def conversation_for(services: Services, channel_id: str) -> Conversation | None:
    """conversations.info: None if the bot can't see the conversation; type and membership unknown if Slack
    wouldn't say (DMs need scopes the bot doesn't ask for; the reply's post then decides)."""
    try:
        return look_up(services.slack, channel_id)
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown")
        if error == "channel_not_found":
            return None
        log.info("conversations.info for %s failed (%s); labelling anyway", channel_id, error)
    except OSError as exc:
        log.info("conversations.info for %s failed (%s); labelling anyway", channel_id, type(exc).__name__)
    return Conversation(channel_id, "", None)


def tell_user(services: Services, shortcut: dict, note: str, respond) -> None:
    """An ephemeral note in the channel, in the user's language; through the response_url when the bot can't post
    there."""
    channel_id = (shortcut.get("channel") or {}).get("id")
    user_id = (shortcut.get("user") or {}).get("id")
    text = services.readers.of_user(user_id if isinstance(user_id, str) else "")(note)
    try:
        services.slack.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
        return
    except SlackApiError as exc:
        log.info("ephemeral note in %s failed (%s); using the response_url", channel_id, exc.response.get("error"))
    respond_ephemeral(respond, text, "tell the user about the shortcut")  # best effort: else no note
