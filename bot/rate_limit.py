"""Pure: thread-safe pacers. RateLimiter keeps a Rekognition API's calls within its quota, oldest image first;
ChannelPacer spaces posts in one Slack channel a second apart (chat.postMessage's limit).

RateLimiter counts as Rekognition does, per second: at most `rate` calls start in any window of a second (made
WINDOW_MARGIN longer, for the time between a call leaving and arriving). An idle limiter lets a burst's first `rate`
calls go within half a window (BURST_SPREAD: a burst is labelled at the quota from its first second, not ramped up
one call at a time, yet its calls never all leave at once and jostle on their way); a longer queue goes `rate` calls
a window. Calls waiting are let through by their order (the oldest image first, see `in_order`), so a burst is
answered in the order it was posted and a retried call goes before the images queued behind it. Each call counts
from when it was actually sent (`sent()`), which can be later than when it was let through (signing, a new
connection), so that lateness never squeezes two windows' calls into one of Rekognition's seconds. The clock and the
wait are injectable.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

# Slack's chat.postMessage allows about one post a second in a channel (bursts above it answer 429)
CHANNEL_POST_INTERVAL_SECONDS = 1.0
# How much longer than a second RateLimiter's window is: the spread between calls' lateness on their way (50 ms at
# any rate). The first call on a new connection arrives 10-45 ms after it was let through here (the loopback
# benchmark); 2 % (20 ms at 10 TPS) left the first burst's first and eleventh calls in one second now and then.
WINDOW_MARGIN = 0.05
# A window's calls start at least window / rate / BURST_SPREAD apart: within the first half of the window.
BURST_SPREAD = 2

# The order of the calls the current job makes: smaller goes first. Set by the pipeline.
_call_order: contextvars.ContextVar[tuple[float, ...]] = contextvars.ContextVar(
    "labelbot_call_order", default=(math.inf,)
)


@contextlib.contextmanager
def in_order(*order: float) -> Iterator[None]:
    """The calls made inside are let through every RateLimiter before those of a larger order (compared as a tuple:
    the pipeline's is the message's turn in its channel, then its ts)."""
    token = _call_order.set(order)
    try:
        yield
    finally:
        _call_order.reset(token)


class _Start:
    """One call let through: when it started (moved to when it was sent)."""

    __slots__ = ("at", "counted")

    def __init__(self, at: float) -> None:
        self.at = at
        self.counted = True  # still in the limiter's window


def _wait_on(condition: threading.Condition, seconds: float) -> None:
    condition.wait(seconds)


class RateLimiter:
    def __init__(
        self,
        rate: float,
        *,
        margin: float = WINDOW_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[threading.Condition, float], None] = _wait_on,
    ) -> None:
        """rate: calls a second (the quota). clock and wait(condition, seconds) are for tests: wait must release the
        condition's lock while it waits, or move the clock on."""
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.rate = rate
        # A window holds `burst` calls: `rate` of them (at least one, for a rate under 1 a second) in burst / rate
        # seconds, plus the margin.
        self.burst = max(1, math.floor(rate))
        self.window = self.burst / rate * (1 + margin)
        self.spacing = self.window / self.burst / BURST_SPREAD
        self._last_start = -math.inf
        self._clock = clock
        self._wait = wait
        self._changed = threading.Condition()
        self._starts: deque[_Start] = deque()  # the calls in the window, oldest first
        self._waiting: list[tuple[tuple[float, ...], int]] = []  # heap of (order, arrival) of the callers waiting
        self._arrivals = itertools.count()
        self._mine = threading.local()  # the calling thread's last start, for sent()

    def acquire(self) -> float:
        """Block until this caller may start (in its order, see in_order); return the seconds waited."""
        me = (_call_order.get(), next(self._arrivals))
        with self._changed:
            arrived = self._clock()
            heapq.heappush(self._waiting, me)
            self._changed.notify_all()  # a caller waiting for the window may now be behind this one
            while True:
                now = self._clock()
                if self._waiting[0] == me:
                    free_in = self._free_in(now)
                    if free_in <= 0:
                        heapq.heappop(self._waiting)
                        self._mine.start = start = _Start(now)
                        self._starts.append(start)
                        self._last_start = now
                        self._changed.notify_all()  # the next in order
                        return now - arrived
                    self._wait(self._changed, free_in)
                else:
                    self._wait(self._changed, self.window)  # woken when the order changes; a bound all the same

    def sent(self) -> None:
        """The calling thread's last call left just now: the window counts it from now on."""
        start = getattr(self._mine, "start", None)
        if start is None:
            return
        with self._changed:
            start.at = max(start.at, self._clock())
            if not start.counted:  # let out of the window while it was on its way: it counts again
                start.counted = True
                self._starts.append(start)

    def _free_in(self, now: float) -> float:
        """Seconds until a call may start: `spacing` after the last one, and while the window holds `burst` calls,
        until enough of them leave it."""
        for start in [s for s in self._starts if s.at <= now - self.window]:
            start.counted = False
            self._starts.remove(start)
        spaced = self._last_start + self.spacing - now
        if len(self._starts) < self.burst:
            return spaced
        times = sorted(start.at for start in self._starts)
        return max(spaced, times[len(times) - self.burst] + self.window - now)


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
