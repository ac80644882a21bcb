"""Pure: answers asked of someone else (Slack), kept a while: what a few lookups inside Slack's 3-second acks share."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeptAnswers(Generic[K, V]):
    """Each key's answer, kept `seconds`; an ask that gets no answer (None: Slack didn't say in time) keeps nothing,
    so the next caller asks again."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._kept: dict[K, tuple[V, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, ask: Callable[[], V | None]) -> V | None:
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and self._clock() - kept[1] < self._seconds:
            return kept[0]
        answer = ask()
        if answer is not None:
            with self._lock:
                self._kept[key] = (answer, self._clock())
        return answer
