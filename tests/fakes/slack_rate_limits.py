"""Slack's Web API rate limits for the loopback fake (tests/fakes/slack.py): a call over its method's limit is
answered HTTP 429 with `Retry-After` in whole seconds, as Slack answers it.

Slack counts each method per app per workspace in tiers of so many calls a minute, and allows bursts
(https://docs.slack.dev/apis/web-api/rate-limits); chat.postMessage is special: about one message a second per
channel, short bursts allowed, under a workspace-wide limit too. Each limit here is a sliding window: at most
`calls` calls in any `seconds`, so a burst of up to `calls` at once goes through and the next call waits until the
oldest leaves the window. Calls answered 429 don't count. Retry-After is that wait, rounded up to whole seconds.

`time_scale` shrinks every window (0.02: a minute lasts 1.2 s) so tests can reach a limit quickly; Retry-After
stays whole real seconds (at least 1), so a client that honours it waits what it was told.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Limit:
    """At most `calls` calls in any `seconds` (Slack's seconds: scaled by SlackRateLimits.time_scale)."""

    calls: int
    seconds: float = 60.0


@dataclass(frozen=True)
class Rule:
    """A limit on one method, for the workspace (per=None) or for each value of one argument (per="channel")."""

    limit: Limit
    per: str | None = None


# The tiers, per method per workspace (docs.slack.dev/apis/web-api/rate-limits: "1+", "20+", "50+", "100+ per
# minute"; Tier 1 tolerates a little burst, Tier 2 occasional bursts, Tier 3 sporadic ones, Tier 4 generous ones).
TIER_1, TIER_2, TIER_3, TIER_4 = (Rule(Limit(calls)) for calls in (1, 20, 50, 100))

# Each Web API method the bot calls (or Bolt for it), with the limit its reference page states
# (docs.slack.dev/reference/methods/<method>, "Rate Limits"; api.slack.com/methods/<method> where marked).
METHOD_RULES: dict[str, tuple[Rule, ...]] = {
    # Special. The rate limits page: "generally allows posting one message per second per channel, while also
    # maintaining a workspace-wide limit" ("Posting messages: 1 per second, short bursts >1 allowed"); the
    # workspace-wide one is "several hundred messages per minute" (taken here as 300).
    "chat.postMessage": (Rule(Limit(3, 3.0), per="channel"), Rule(Limit(300))),
    "chat.postEphemeral": (TIER_4,),  # api.slack.com/methods/chat.postEphemeral: Tier 4
    "chat.delete": (TIER_3,),  # api.slack.com/methods/chat.delete: Tier 3
    "chat.update": (TIER_3,),  # api.slack.com/methods/chat.update: Tier 3
    # "Special rate limits apply" (the method's page, as slack_kit's scrape gives it), unstated: taken as Tier 4.
    "chat.getPermalink": (TIER_4,),
    "reactions.add": (TIER_3,),
    # Tier 3 for internal and Marketplace apps (labelbot is installed from its own manifest); commercially
    # distributed non-Marketplace apps get 1 a minute (the method's page, since 2025-05-29).
    "conversations.replies": (TIER_3,),
    "conversations.info": (TIER_3,),
    "users.info": (TIER_4,),  # the method's page as slack_kit's scrape of docs.slack.dev gives it: Tier 4
    "users.conversations": (TIER_3,),  # api.slack.com/methods/users.conversations: Tier 3
    "views.publish": (TIER_4,),  # as for users.info: Tier 4
    "files.info": (TIER_4,),  # api.slack.com/methods/files.info: Tier 4
    # files_upload_v2's two Web API calls (the upload URL between them is no Web API method and isn't limited):
    # Tier 4 on api.slack.com/methods/files.getUploadURLExternal and …/files.completeUploadExternal.
    "files.getUploadURLExternal": (TIER_4,),
    "files.completeUploadExternal": (TIER_4,),
    # Special: "This method allows hundreds of requests per minute" (the auth.test page, taken here as 300).
    "auth.test": (Rule(Limit(300)),),
    # Tier 1 on api.slack.com/methods/apps.connections.open (Socket Mode's connection URL, Bolt calls it).
    "apps.connections.open": (TIER_1,),
}


class SlackRateLimits:
    """The windows of every limited method; retry_after() decides each call. Thread-safe. rules: methods whose
    limits differ from METHOD_RULES (e.g. {"reactions.add": (Rule(Limit(3)),)} to reach the limit sooner)."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        rules: Mapping[str, tuple[Rule, ...]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self.rules = {**METHOD_RULES, **(rules or {})}
        self._clock = clock
        self._windows: dict[tuple[str, str | None, str], collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self._lock = threading.Lock()

    def retry_after(self, method: str, args: Mapping) -> int | None:
        """None: the call is within every limit of its method (and counts in their windows). Else the whole seconds
        Slack's Retry-After would say: until the fullest window has room again."""
        with self._lock:
            now = self._clock()
            windows = [self._window(method, rule, args, now) for rule in self.rules.get(method, ())]
            waits = [calls[0] + span - now for calls, span, most in windows if len(calls) >= most]
            if waits:
                return max(1, math.ceil(max(waits)))
            for calls, _, _ in windows:
                calls.append(now)
            return None

    def _window(self, method: str, rule: Rule, args: Mapping, now: float) -> tuple[collections.deque, float, int]:
        """The rule's window for this call (its accepted calls' times, older ones dropped), its span and its limit."""
        span = rule.limit.seconds * self.time_scale
        key = str(args.get(rule.per, "")) if rule.per else ""
        calls = self._windows[(method, rule.per, key)]
        while calls and calls[0] <= now - span:
            calls.popleft()
        return calls, span, rule.limit.calls


# ---- what tests and benchmarks read from the fake's record of calls (FakeSlack.calls) --------------------------


class RecordedCall(Protocol):
    method: str
    args: dict
    received_at: float
    status: int
    retry_after: int | None


def rate_limited_by_method(calls: Iterable[RecordedCall]) -> collections.Counter[str]:
    """How many calls of each method were answered 429."""
    return collections.Counter(call.method for call in calls if call.status == 429)


def early_retries(calls: Iterable[RecordedCall]) -> list[tuple[RecordedCall, RecordedCall]]:
    """Each (call answered 429, its retry) where the retry arrived sooner than the 429's Retry-After. A retry is the
    next call of the same method with the same arguments."""
    early = []
    waiting: dict[str, RecordedCall] = {}  # a 429'd call, by what its retry will look like
    for call in sorted(calls, key=lambda c: c.received_at):
        key = _same_request(call)
        limited = waiting.pop(key, None)
        if limited is not None and call.received_at < limited.received_at + (limited.retry_after or 0):
            early.append((limited, call))
        if call.status == 429:
            waiting[key] = call
    return early


def _same_request(call: RecordedCall) -> str:
    args = {name: value for name, value in call.args.items() if name != "_ok"}  # the fake marks answered calls
    return call.method + " " + json.dumps(args, sort_keys=True, default=str)
