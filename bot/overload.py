"""The bounded queue: past LABELBOT_MAX_QUEUE waiting jobs, a new image message is answered "busy", not queued."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.i18n import Sentence
from bot.store import JobQueue

log = logging.getLogger(__name__)

BUSY = Sentence("I'm busy right now, so I didn't label this image. Please try again in a few minutes.")
WARN_EVERY_SECONDS = 60.0


class QueueGate:
    """Whether the queue has room for a new message's images. A full queue is logged at WARNING at most once a
    minute (with how many messages were turned away meanwhile), not once per message."""

    def __init__(
        self,
        queue: JobQueue,
        max_queue: int,
        *,
        warn_every_seconds: float = WARN_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue = queue
        self.max_queue = max_queue
        self._warn_every_seconds = warn_every_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._next_warning = 0.0
        self._turned_away = 0

    def has_room(self) -> bool:
        """A soft bound: listener threads checking at the same moment may each add one message's images."""
        return not self._queue.waiting_at_least(self.max_queue)

    def turned_away(self, channel_id: str) -> None:
        """A message was answered "busy" instead of being queued."""
        with self._lock:
            self._turned_away += 1
            now = self._clock()
            if now < self._next_warning:
                return
            self._next_warning = now + self._warn_every_seconds
            count, self._turned_away = self._turned_away, 0
        log.warning(
            "the queue is full (LABELBOT_MAX_QUEUE=%d images waiting): %d new message(s) answered 'busy' instead of "
            "queued, the latest in %s. If this lasts, look for Rekognition throttling above or raise LABELBOT_WORKERS",
            self.max_queue,
            count,
            channel_id,
        )
