"""bot/rate_limit.py: the pacer in front of every DetectLabels attempt, on a fake clock."""

from __future__ import annotations

import itertools
import random
import threading

import pytest

from bot.rate_limit import RateLimiter


class FakeClock:
    """time.monotonic and time.sleep: sleeping moves time on (one thread), or only records (many threads)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def most_in_any_window(starts: list[float], window: float = 1.0) -> int:
    """The most starts in any half-open window [t, t + window) (a window starting at a start is the worst)."""
    ordered = sorted(starts)
    most, low = 0, 0
    for high, start in enumerate(ordered):
        while ordered[low] <= start - window + 1e-9:
            low += 1
        most = max(most, high - low + 1)
    return most


def test_the_first_call_goes_at_once():
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)

    assert limiter.acquire() == 0
    assert clock.slept == []


def test_a_burst_is_spread_out_evenly():
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(11):
        limiter.acquire()
        starts.append(clock.now)

    assert starts[-1] - starts[0] == pytest.approx(2.0)  # 11 calls at 5 a second: 10 gaps of 0.2 s
    assert all(b - a == pytest.approx(0.2) for a, b in itertools.pairwise(starts))
    assert most_in_any_window(starts) == 5


def test_steady_calls_slower_than_the_rate_never_wait():
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        assert limiter.acquire() == 0
        clock.now += 0.25

    assert clock.slept == []


def test_idle_time_is_not_saved_up_for_a_later_burst():
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 60  # a quiet minute
    starts = []
    for _ in range(30):
        limiter.acquire()
        starts.append(clock.now)

    assert most_in_any_window(starts) == 10


def test_a_fractional_rate():
    clock = FakeClock()
    limiter = RateLimiter(0.1, clock=clock, sleep=clock.sleep)
    limiter.acquire()

    assert limiter.acquire() == pytest.approx(10.0)


@pytest.mark.parametrize("rate", [0, -1])
def test_the_rate_must_be_positive(rate):
    with pytest.raises(ValueError):
        RateLimiter(rate)


@pytest.mark.parametrize("rate", [5, 20, 50])
def test_many_threads_never_exceed_the_rate_in_any_second(rate):
    """64 threads take 640 slots while the clock moves on irregularly: no 1 s window holds more than `rate`."""
    rng = random.Random(rate)
    state = {"now": 1000.0}
    seen = threading.local()  # the time each thread last read, so its start is that plus what it was told to wait
    starts: list[float] = []
    lock = threading.Lock()

    def clock() -> float:  # read under the limiter's lock; moves on by up to 50 ms now and then
        if rng.random() < 0.3:
            state["now"] += rng.random() * 0.05
        seen.now = state["now"]
        return seen.now

    def record_start(seconds: float) -> None:  # instead of sleeping: the thread would start at now + seconds
        with lock:
            starts.append(seen.now + seconds)

    limiter = RateLimiter(rate, clock=clock, sleep=record_start)
    barrier = threading.Barrier(64)

    def worker() -> None:
        barrier.wait()
        for _ in range(10):
            if limiter.acquire() == 0:
                record_start(0)

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(starts) == 640
    assert most_in_any_window(starts) <= rate
    assert len(set(starts)) == len(starts)  # no two threads got the same slot
    assert max(starts) - min(starts) >= 639 / rate - 1e-6
