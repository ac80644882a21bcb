"""Pure: thread-safe pacers. RateLimiter lets calls start at most `rate` times a second, evenly spaced (a
Rekognition API's quota); ChannelPacer spaces posts in one Slack channel a second apart (chat.postMessage's limit).

RateLimiter is a token bucket of capacity 1: each call reserves the next free slot (slots are 1/rate s apart) and
sleeps until it. With no burst allowance, any 1-second window holds at most `rate` starts (for a whole-number rate),
however many threads wait; an idle pacer lets the next call through at once. The clock and sleep are injectable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Slack's chat.postMessage allows about one post a second in a channel (bursts above it answer 429)
CHANNEL_POST_INTERVAL_SECONDS = 1.0


class RateLimiter:
    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.rate = rate
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next_slot = float("-inf")
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next free slot and return how long to wait for it (0: go now)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        return slot - now

    def acquire(self) -> float:
        """Block until this caller may start; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


class ChannelPacer:
    """At most one post a second per channel: wait() sleeps only the caller, and only for its own channel.

    The second runs from the previous post's answer (posted()), not from when it was sent: Slack counts a post when
    it arrives, somewhere between the two, so spacing the starts alone lets network and scheduling jitter bring two
    posts closer than a second at Slack's end (a 429 and a Retry-After second lost). A 429's Retry-After holds the
    channel's next post back that long (hold())."""

    def __init__(self, interval: float = CHANNEL_POST_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}  # channel -> monotonic time of its next free slot

    def wait(self, channel_id: str) -> None:
        with self._lock:
            now = self.clock()
            if len(self._next) > 1000:  # forget channels with no recent post
                self._next = {c: t for c, t in self._next.items() if t > now}
            slot = max(now, self._next.get(channel_id, now))
            self._next[channel_id] = slot + self.interval
        if slot > now:
            time.sleep(slot - now)

    def posted(self, channel_id: str) -> None:
        """The channel's post was answered (or failed): its next one waits a full interval from now."""
        self.hold(channel_id, self.interval)

    def hold(self, channel_id: str, seconds: float) -> None:
        """The channel's next post waits at least seconds from now (e.g. a 429's Retry-After)."""
        with self._lock:
            now = self.clock()
            self._next[channel_id] = max(self._next.get(channel_id, now), now + seconds)

    def held_for(self, channel_id: str) -> float:
        """Seconds until the channel's next post may go (0: now)."""
        with self._lock:
            return max(0.0, self._next.get(channel_id, 0.0) - self.clock())
