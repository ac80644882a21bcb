"""What Slack says about a conversation now (conversations.info): its type and whether the bot is in it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Conversation:
    channel_id: str
    channel_type: str  # as events name it: channel (public) | group (private) | im | mpim | "" (unknown)
    is_member: bool | None  # None: Slack didn't say (conversations.info leaves it out for DMs)

    @property
    def is_public(self) -> bool:
        return self.channel_type == "channel"


def conversation_type(channel: dict) -> str:
    """conversations.info's flags → the channel_type a message event would carry."""
    if channel.get("is_im"):
        return "im"
    if channel.get("is_mpim"):
        return "mpim"
    if channel.get("is_private") or channel.get("is_group"):
        return "group"
    if channel.get("is_channel"):
        return "channel"
    return ""


def look_up(slack: WebClient, channel_id: str) -> Conversation:
    """One conversations.info call; raises SlackApiError (e.g. channel_not_found: the bot can't see it) or OSError."""
    channel = slack.conversations_info(channel=channel_id).get("channel") or {}
    is_member = channel.get("is_member")
    return Conversation(channel_id, conversation_type(channel), is_member if isinstance(is_member, bool) else None)


class PublicChannels:
    """Whether a channel is public right now, asked of Slack and remembered briefly (a channel can be made
    private at any time). Give it a client with a short timeout and no retries when it answers inside an ack."""

    def __init__(
        self, slack: WebClient, *, cache_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._slack = slack
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def is_public(self, channel_id: str) -> bool | None:
        """True or False; None when Slack didn't answer (nothing is remembered then)."""
        with self._lock:
            cached = self._cache.get(channel_id)
        if cached and self._clock() - cached[1] < self._cache_seconds:
            return cached[0]
        try:
            public = look_up(self._slack, channel_id).is_public
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
            if error not in ("channel_not_found", "missing_scope"):
                log.warning("conversations.info for %s failed: %s", channel_id, error)
                return None
            public = False  # the bot can't see it: not a public channel it may search
        except OSError as exc:  # a timeout or a dropped connection
            log.warning("conversations.info for %s failed: %s", channel_id, type(exc).__name__)
            return None
        with self._lock:
            self._cache[channel_id] = (public, self._clock())
        return public
