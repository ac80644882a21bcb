"""Usage: what labelbot spends, counted as it happens (the store's UsageCounters, one set of counters per UTC
calendar month)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.install_context import current_or_one
from bot.store import UsageCounters

log = logging.getLogger(__name__)


def usage_month(epoch: float) -> str:
    """The UTC calendar month an instant counts in: "2026-12"."""
    return time.strftime("%Y-%m", time.gmtime(epoch))


class CallCounter:
    """Counts every Rekognition attempt (retries included) in its month as it is made: called by the API's pacer just
    before the attempt is signed and sent. Counted before, not after: a crash between the count and the call counts
    that one call too many, and no call is ever missed.

    With a limit (LABELBOT_MONTHLY_CALL_LIMIT) the count is also the permission: once the month's calls, all APIs and
    processes together, reached it, the call is refused (False) and not made. A store that fails to count costs the
    count, never the call (one log line): the limit is not enforced while the store can't say."""

    def __init__(
        self,
        usage: UsageCounters,
        *,
        limit: int | None = None,
        total_limit: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """limit: the install's month (each install's, where there are many: the current one's); total_limit: every
        install's together (LABELBOT_TOTAL_MONTHLY_CALL_LIMIT)."""
        self._usage = usage
        self.limit = limit
        self.total_limit = total_limit
        self._clock = clock
        self._lock = threading.Lock()
        # Each install's month, and its total as this process last counted it
        self._latest: dict[str, tuple[str, int]] = {}

    def __call__(self, api: str) -> bool:
        """Count one call of `api`; False: the month's limit is reached, don't make it."""
        month = usage_month(self._clock())
        try:
            total = self._usage.count_call(month, api, limit=self.limit, total_limit=self.total_limit)
        except Exception:
            log.exception("counting a %s call in the usage failed", api)
            return True
        self._note(month, self.limit if total is None else total)
        return total is not None

    def _note(self, month: str, total: int) -> None:
        workspace = current_or_one()
        with self._lock:
            if (month, total) > self._latest.get(workspace, ("", 0)):
                self._latest[workspace] = (month, total)

    def month_total(self, month: str) -> int:
        """The current install's month's calls as this process last counted them (0: none counted here this month)."""
        with self._lock:
            latest_month, total = self._latest.get(current_or_one(), ("", 0))
        return total if latest_month == month else 0
