"""A reply the bot may have posted already: a process that died while posting a reply can't know whether Slack got
it, so the next one looks in the thread for the reply's metadata before posting again."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

# The Slack message metadata event type of the bot's replies; its payload names the message answered.
REPLY_EVENT_TYPE = "labelbot_reply"
MAX_THREAD_PAGES = 10  # conversations.replies pages (200 messages each) searched for an interrupted reply


def find_posted_reply(slack: WebClient, channel_id: str, thread_ts: str, message_ts: str) -> str | None:
    """The ts of the bot's reply to this message if it is in the thread already (recognised by the metadata
    post_reply attaches), else None. Raises what conversations.replies raises, except for the errors after
    which posting is still right (the thread is gone, or the app lacks the *:history scopes)."""
    cursor = None
    for _ in range(MAX_THREAD_PAGES):
        try:
            response = slack.conversations_replies(
                channel=channel_id,
                ts=thread_ts,
                oldest=message_ts,  # the reply came after the message (a long thread's older part is skipped)
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error == "missing_scope":
                log.warning("cannot read the thread in %s (needs the *:history scopes); posting", channel_id)
                return None
            if error == "thread_not_found":
                return None
            raise
        for message in response.get("messages") or ():
            metadata = message.get("metadata") or {}
            if (
                message.get("bot_id")
                and metadata.get("event_type") == REPLY_EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("message_ts") == message_ts
            ):
                return str(message.get("ts", ""))
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not response.get("has_more") or not cursor:
            return None
    log.warning("the thread of %s in %s is too long to check for an earlier reply; posting", message_ts, channel_id)
    return None
