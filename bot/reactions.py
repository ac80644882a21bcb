"""Emoji tags, added after the replies: one message at a time, its emoji in order, by one thread per process (on AWS
Lambda by the invocation, once its replies are out). reactions.add is Tier 3, 50+ a minute for the whole
workspace, so a burst of tagged images soon reaches it: a 429 is waited out for as long as its Retry-After says,
beyond the client's cap, and the emoji tried again. A rate limit never costs an emoji, and tagging never holds a
reply (or a worker) up."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.install_context import current, working_for
from bot.slack_api import rate_limited, retry_after_seconds

log = logging.getLogger(__name__)

# reactions.add errors that concern one emoji only: the others can still be added.
SKIPPED_REACTION_ERRORS = frozenset({"already_reacted", "invalid_name"})
# Errors about the message itself (gone, or full of reactions): its tagging stops quietly.
QUIET_REACTION_ERRORS = frozenset({"message_not_found", "too_many_reactions"})
DEFAULT_RETRY_AFTER_SECONDS = 1.0  # a 429 without a usable Retry-After


@dataclass(frozen=True)
class Tagging:
    channel_id: str
    message_ts: str
    names: tuple[str, ...]
    workspace: str | None = None  # the install the emoji are added for (bot.workspaces), the adder's at add()


class Stopped(Exception):
    """The queue was stopped while waiting out a rate limit."""


class ReactionQueue:
    """Messages waiting for their emoji, added in the order they were queued. background: a daemon thread adds
    them (started by the first add); else whoever calls drain() does (AWS Lambda, at the end of an invocation)."""

    def __init__(self, slack: WebClient, *, emoji_map_origin: str = "the emoji map", background: bool = True) -> None:
        self._slack = slack
        self._origin = emoji_map_origin
        self._background = background
        self._pending: collections.deque[Tagging] = collections.deque()
        self._changed = threading.Condition()
        self._adder: int | None = None  # the thread adding the queued emoji now
        self._closing = threading.Event()  # stop(): add what is queued, then end
        self._stopped = threading.Event()  # stop()'s time is up: end now, even in a Retry-After wait
        self._thread: threading.Thread | None = None

    def add(self, channel_id: str, message_ts: str, names: Iterable[str]) -> None:
        """Queue a message's emoji (returns at once)."""
        tagging = Tagging(channel_id, message_ts, tuple(names), current())
        if not tagging.names:
            return
        with self._changed:
            self._pending.append(tagging)
            self._changed.notify_all()
            if self._background and self._thread is None and not self._closing.is_set():
                self._thread = threading.Thread(target=self._run, name="labelbot-reactions", daemon=True)
                self._thread.start()

    @property
    def waiting(self) -> int:
        """Emoji queued and not yet being added."""
        with self._changed:
            return sum(len(tagging.names) for tagging in self._pending)

    def drain(self) -> None:
        """Add every queued emoji now, in this thread; if another thread is adding them already, it adds these too
        and this returns at once."""
        me = threading.get_ident()
        while not self._stopped.is_set() and (tagging := self._take(me)) is not None:
            self._tag(tagging)
        with self._changed:
            if self._adder == me:
                self._adder = None

    def stop(self, timeout: float = 5.0) -> None:
        """Add what is queued for up to timeout seconds, then give up on the rest (logged)."""
        self._closing.set()
        with self._changed:
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._stopped.set()
        if thread is not None:
            thread.join(1.0)
        if left := self.waiting:
            log.warning("stopping with %d emoji reaction(s) not added", left)

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closing.is_set())
                if not self._pending:
                    return  # closing, and nothing left
            self.drain()

    def _take(self, me: int) -> Tagging | None:
        """The next message to tag, unless the queue is empty or another thread is tagging (it takes this one)."""
        with self._changed:
            if self._adder not in (None, me) or not self._pending:
                if self._adder == me:
                    self._adder = None
                return None
            self._adder = me
            return self._pending.popleft()

    def _tag(self, tagging: Tagging) -> None:
        """The message's emoji in order; an error about one emoji skips it, any other stops this message's tagging
        (logged). Never raises: a reply stands whatever happens to its tags."""
        try:
            for index, name in enumerate(tagging.names):
                with working_for(tagging.workspace):
                    error = self._add_one(tagging, name)
                if error is None or error in SKIPPED_REACTION_ERRORS:
                    continue
                hint = " (the app needs the reactions:write scope)" if error == "missing_scope" else ""
                log.log(
                    logging.INFO if error in QUIET_REACTION_ERRORS else logging.WARNING,
                    "stopped tagging message %s in %s after %d of %d emoji: %s%s",
                    tagging.message_ts,
                    tagging.channel_id,
                    index,
                    len(tagging.names),
                    error,
                    hint,
                )
                return
        except Stopped:
            log.warning("stopped before tagging message %s in %s", tagging.message_ts, tagging.channel_id)
        except Exception:
            log.exception("tagging message %s in %s failed; the reply stands", tagging.message_ts, tagging.channel_id)

    def _add_one(self, tagging: Tagging, name: str) -> str | None:
        """reactions.add for one emoji: None once added, else Slack's error. Each 429 the client's retries did not get
        past is waited out here, for its whole Retry-After, and the emoji tried again."""
        while True:
            try:
                self._slack.reactions_add(channel=tagging.channel_id, timestamp=tagging.message_ts, name=name)
                return None
            except SlackApiError as exc:
                if not rate_limited(exc):
                    error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
                    if error == "invalid_name":
                        log.warning("Slack has no emoji :%s:; fix or remove it in %s", name, self._origin)
                    return error
                self._wait_out(retry_after_seconds(exc.response.headers))

    def _wait_out(self, retry_after: float | None) -> None:
        seconds = DEFAULT_RETRY_AFTER_SECONDS if retry_after is None else retry_after
        log.info("reactions.add is rate limited; the next emoji in %.0f s (%d more waiting)", seconds, self.waiting)
        if self._stopped.wait(seconds):
            raise Stopped
