"""Usage: what labelbot spends, counted as it happens (the store's UsageCounters, one set of counters per UTC
calendar month)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.store import UsageCounters

log = logging.getLogger(__name__)


def usage_month(epoch: float) -> str:
    """The UTC calendar month an instant counts in: "2026-12"."""
    return time.strftime("%Y-%m", time.gmtime(epoch))


class CallCounter:
    """Counts every Rekognition attempt (retries included) in its month as it is made: called by the API's pacer just
    before the attempt is signed and sent. Counted before, not after: a crash between the count and the call counts
    that one call too many, and no call is ever missed. A store that fails to count costs the count, never the call
    (one log line)."""

    def __init__(self, usage: UsageCounters, *, clock: Callable[[], float] = time.time) -> None:
        self._usage = usage
        self._clock = clock

    def __call__(self, api: str) -> None:
        try:
            self._usage.count_call(usage_month(self._clock()), api)
        except Exception:
            log.exception("counting a %s call in the usage failed", api)
