"""What Slack says about a conversation now (conversations.info): its type and whether the bot is in it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answers import KeptAnswers
from bot.install_context import current_or_one

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
        self._answers: KeptAnswers[tuple[str, str], bool] = KeptAnswers(cache_seconds, clock)

    def is_public(self, channel_id: str) -> bool | None:
        """True or False, as the current install sees it; None when Slack didn't answer (nothing is remembered)."""
        return self._answers.get((current_or_one(), channel_id), lambda: self._ask(channel_id))

    def _ask(self, channel_id: str) -> bool | None:
        try:
            return look_up(self._slack, channel_id).is_public
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
            if error not in ("channel_not_found", "missing_scope"):
                log.warning("conversations.info for %s failed: %s", channel_id, error)
                return None
            return False  # the bot can't see it: not a public channel it may search
        except OSError as exc:  # a timeout or a dropped connection
            log.warning("conversations.info for %s failed: %s", channel_id, type(exc).__name__)
            return None


class ModerationChannelCheck:
    """Whether the bot can post in LABELBOT_MODERATION_CHANNEL, where held images' notices go.

    Asked of Slack once per process at start-up (check_at_start: the long-running bot as it starts; on AWS Lambda
    after an instance's first invocation that isn't an ack, so never inside Slack's 3 s), and by /labels status
    (access), which uses an answer younger than cache_seconds and otherwise asks again, once: membership changes,
    and the warning's advice is to invite the bot. Give it the client with a short timeout and no retries (it is
    asked inside an ack). The first answer that the bot can't post there is logged as one WARNING, naming the
    variable and what to do; nothing here ever raises."""

    def __init__(
        self,
        slack: WebClient,
        channel_id: str | None,
        *,
        cache_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack = slack
        self.channel_id = channel_id
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: tuple[str, float] | None = None  # (access, when Slack said it)
        self._checked_at_start = False
        self._warned = False

    def check_at_start(self) -> None:
        """The start-up check: one call per process, whatever it answers (later ones are /labels status's), and
        none if a status asked already."""
        with self._lock:
            if self._checked_at_start or self.channel_id is None or self._answer is not None:
                return
            self._checked_at_start = True
        try:
            self._ask()
        except Exception:  # whatever it was, start-up goes on; /labels status asks again
            log.warning("could not check LABELBOT_MODERATION_CHANNEL %s", self.channel_id, exc_info=True)

    def access(self) -> str | None:
        """ "member", "not_member" or "not_found" (bot.settings.ChannelAccess); None without a channel or when
        Slack didn't answer just now."""
        if self.channel_id is None:
            return None
        with self._lock:
            answer = self._answer
        if answer is not None and self._clock() - answer[1] < self._cache_seconds:
            return answer[0]
        return self._ask()

    def _ask(self) -> str | None:
        channel_id = self.channel_id
        assert channel_id is not None
        try:
            is_member = look_up(self._slack, channel_id).is_member
            access = None if is_member is None else "member" if is_member else "not_member"
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
            if error != "channel_not_found":
                log.info("could not check LABELBOT_MODERATION_CHANNEL %s (conversations.info: %s)", channel_id, error)
                return None
            access = "not_found"
        except OSError as exc:  # a timeout or a dropped connection
            log.info("could not check LABELBOT_MODERATION_CHANNEL %s (%s)", channel_id, type(exc).__name__)
            return None
        if access is None:
            return None
        with self._lock:
            self._answer = (access, self._clock())
            warn = access != "member" and not self._warned
            self._warned = self._warned or warn
        if warn:
            log.warning(_WARNINGS[access], channel_id)
        return access


_WARNINGS = {
    "not_member": (
        "LABELBOT_MODERATION_CHANNEL is %s, but the bot is not a member of that channel, so the notices of held "
        "images can't be posted there: invite the bot (/invite @labelbot in the channel), or set "
        "LABELBOT_MODERATION_CHANNEL to a channel it is in"
    ),
    "not_found": (
        "LABELBOT_MODERATION_CHANNEL is %s, which the bot can't see (channel_not_found), so the notices of held images "
        "can't be posted there: if it is a private channel, invite the bot (/invite @labelbot in it); otherwise "
        "set LABELBOT_MODERATION_CHANNEL to the right channel ID"
    ),
}
