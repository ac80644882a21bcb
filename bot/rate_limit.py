"""Pure: a thread-safe pacer that lets calls start at most `rate` times a second, evenly spaced.

A token bucket of capacity 1: each call reserves the next free slot (slots are 1/rate s apart) and sleeps until
it. With no burst allowance, any 1-second window holds at most `rate` starts (for a whole-number rate), however
many threads wait; an idle pacer lets the next call through at once. The clock and sleep are injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


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
