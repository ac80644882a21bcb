"""A byte budget shared by threads: how many downloaded images the workers hold at once (see bot.pipeline)."""

from __future__ import annotations

import collections
import threading


class ByteBudget:
    """At most `limit` bytes held at once across threads, handed out first come, first served (a large request is not
    overtaken by smaller ones for ever); a request larger than the limit counts as the whole limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._queue: collections.deque[object] = collections.deque()
        self._changed = threading.Condition()

    def acquire(self, size: int) -> int:
        """Wait for size bytes behind earlier requests, take them and return how many were taken (for release)."""
        size = max(1, min(size, self.limit))
        turn = object()
        with self._changed:
            self._queue.append(turn)
            self._changed.wait_for(lambda: self._queue[0] is turn and self._used + size <= self.limit)
            self._queue.popleft()
            self._used += size
            self._changed.notify_all()  # the next in line may fit too
        return size

    def take_more(self, size: int) -> int:
        """Count size more bytes now, without waiting (what was held turned out larger than asked for): later
        requests wait for them. Returns size, to release with the rest."""
        with self._changed:
            self._used += size
        return size

    def release(self, size: int) -> None:
        with self._changed:
            self._used -= size
            self._changed.notify_all()
