"""bot/rate_limit.py: the pacer in front of every Rekognition attempt: a window per second, the oldest image first."""

from __future__ import annotations

import random
import threading
import time

import pytest

from bot.rate_limit import BURST_SPREAD, WINDOW_MARGIN, RateLimiter, in_order


class FakeClock:
    """time.monotonic, and the limiter's wait: waiting moves time on (one thread)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.waited: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, _condition: threading.Condition, seconds: float) -> None:
        self.waited.append(seconds)
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


def limiter_on(clock: FakeClock, rate: float) -> RateLimiter:
    return RateLimiter(rate, clock=clock, wait=clock.wait)


def test_an_idle_limiter_lets_a_burst_of_the_rate_go_within_half_a_window():
    clock = FakeClock()
    limiter = limiter_on(clock, 5)
    spacing = (1 + WINDOW_MARGIN) / 5 / BURST_SPREAD

    assert limiter.acquire() == 0.0  # the first at once
    assert [limiter.acquire() for _ in range(4)] == pytest.approx([spacing] * 4)
    assert clock.now - 1000.0 == pytest.approx(4 * spacing) and 4 * spacing < (1 + WINDOW_MARGIN) / 2


def test_a_longer_burst_goes_the_rate_a_window_never_more_in_any_second():
    clock = FakeClock()
    limiter = limiter_on(clock, 5)
    starts = []
    for _ in range(11):
        limiter.acquire()
        starts.append(clock.now)

    window = 1 + WINDOW_MARGIN
    spread = [index * window / 5 / BURST_SPREAD for index in range(5)]
    assert starts == pytest.approx(
        [1000.0 + at for at in spread] + [1000.0 + window + at for at in spread] + [1000.0 + 2 * window]
    )
    assert most_in_any_window(starts) == 5
    assert most_in_any_window(starts, window) == 5  # the margin is kept too


def test_steady_calls_slower_than_the_rate_never_wait():
    clock = FakeClock()
    limiter = limiter_on(clock, 5)
    for _ in range(20):
        assert limiter.acquire() == 0
        clock.now += 0.25

    assert clock.waited == []


def test_idle_time_is_not_saved_up_for_a_later_burst():
    clock = FakeClock()
    limiter = limiter_on(clock, 10)
    limiter.acquire()
    clock.now += 60  # a quiet minute
    starts = []
    for _ in range(30):
        limiter.acquire()
        starts.append(clock.now)

    assert most_in_any_window(starts) == 10


def test_a_fractional_rate_goes_one_call_a_window():
    clock = FakeClock()
    limiter = limiter_on(clock, 0.1)
    limiter.acquire()

    assert limiter.acquire() == pytest.approx(10.0 * (1 + WINDOW_MARGIN))


@pytest.mark.parametrize("rate", [0, -1])
def test_the_rate_must_be_positive(rate):
    with pytest.raises(ValueError):
        RateLimiter(rate)


def test_a_call_counts_from_when_it_was_sent_not_from_when_it_was_let_through():
    """Signing or a new connection can make a call leave late: the window then runs from its leaving, so the next
    window's calls can never meet it in one of Rekognition's seconds."""
    clock = FakeClock()
    limiter = limiter_on(clock, 2)
    limiter.acquire()
    clock.now += 0.3  # the first call leaves 300 ms after it was let through
    limiter.sent()
    limiter.acquire()  # the second goes at once (the window has room, the spacing has passed) and leaves at once
    limiter.sent()
    starts = [1000.3, clock.now]

    limiter.acquire()

    window = 1 + WINDOW_MARGIN
    assert clock.now == pytest.approx(1000.3 + window)  # not 1000.0 + window: counted from when it left
    assert most_in_any_window([*starts, clock.now]) == 2


def test_a_call_sent_after_its_window_passed_counts_again():
    clock = FakeClock()
    limiter = limiter_on(clock, 1)
    limiter.acquire()
    clock.now += 5  # let through, then held up for longer than a window before it left
    limiter.acquire()  # meanwhile another call went (the first had left the window)
    limiter.sent()  # ... and this thread's first call leaves only now
    before = clock.now

    limiter.acquire()

    assert clock.now - before == pytest.approx(1 + WINDOW_MARGIN)


def test_waiting_calls_go_in_their_order_not_in_their_arrival():
    """Callers waiting for the window go smallest order first (the pipeline's: turn in the channel, then ts), however
    they arrived; a caller with no order goes after them."""
    limiter = RateLimiter(1, margin=0.0)
    limiter.acquire()  # fills the window for a second
    went: list[str] = []
    lock = threading.Lock()

    def call(name: str, *order: float) -> None:
        with in_order(*order) if order else _no_order():
            limiter.acquire()
        with lock:
            went.append(name)

    threads = [
        threading.Thread(target=call, args=args)
        for args in [("no order",), ("turn 1", 1, 5.0), ("turn 0, later", 0, 9.0), ("turn 0", 0, 2.0)]
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # they arrive in this order while the window is full
    for thread in threads:
        thread.join(10)

    assert went == ["turn 0", "turn 0, later", "turn 1", "no order"]


class _no_order:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


@pytest.mark.parametrize(("rate", "calls"), [(5, 11), (20, 41), (50, 101)])
def test_many_threads_never_exceed_the_rate_in_any_second(rate, calls):
    """64 threads take `calls` calls, each leaving 0-30 ms after it was let through: no 1 s window holds more than
    `rate` of the times they left, and the burst took no longer than its windows (each made later by that lateness)."""
    rng = random.Random(rate)
    limiter = RateLimiter(rate)
    sent: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(64)
    left = iter(range(calls))

    def worker() -> None:
        barrier.wait()
        while True:
            with lock:
                if next(left, None) is None:
                    return
            limiter.acquire()
            time.sleep(rng.random() * 0.03)
            limiter.sent()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(sent) == calls
    assert most_in_any_window(sent) <= rate
    windows = -(-calls // rate) - 1  # after the first window's calls, one more window per `rate` calls
    assert windows * 1.0 <= max(sent) - min(sent) < windows * (1 + WINDOW_MARGIN + 0.03) + 0.5  # 0.5: a busy CI
