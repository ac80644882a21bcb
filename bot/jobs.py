"""The worker pool over the store's durable queue: claim, run, finish; resume after a restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.store import Job, Store

log = logging.getLogger(__name__)


class WorkerPool:
    """N threads that claim jobs from the store; enqueuers call notify() so an idle worker wakes at once."""

    def __init__(
        self,
        store: Store,
        run_job: Callable[[Job], None],
        post_reply: Callable[[str, str], None],
        workers: int,
        *,
        poll_seconds: float = 1.0,
        sweep_seconds: float = 30.0,
        upkeep: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._run_job = run_job
        self._post_reply = post_reply
        self._size = workers
        self._poll_seconds = poll_seconds
        self._sweep_seconds = sweep_seconds
        self._upkeep = upkeep
        self._wake = threading.Condition()
        self._signals = 0
        self._stopping = threading.Event()
        self._stop_requested_at: float | None = None  # monotonic time of the first stop_claiming()
        self._suspended = threading.Event()  # Slack refused the token: claim and post nothing until a restart
        self._sweep_wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Requeue what a stopped process left running, then work; replies it never sent go out in the sweep."""
        if self._threads:
            raise RuntimeError("the worker pool is already running")
        requeued = self._store.requeue_interrupted()
        for index in range(self._size):
            self._start_thread(self._work, f"labelbot-worker-{index}")
        self._start_thread(self._sweep, "labelbot-reply-sweep")
        log.info("started %d workers; %d interrupted job(s) requeued", self._size, requeued)
        self.notify(self._store.queue_stats().depth)

    def _start_thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def notify(self, count: int = 1) -> None:
        if count <= 0:
            return
        with self._wake:
            self._signals += count
            self._wake.notify(count)

    @property
    def suspended(self) -> bool:
        return self._suspended.is_set()

    def suspend(self) -> None:
        """Claim no more jobs and post no more replies until the next start (Slack refused the token): jobs in
        flight end as they can, queued ones and unposted replies stay in the store for the next process."""
        self._suspended.set()
        self._sweep_wake.set()
        with self._wake:
            self._wake.notify_all()

    def sweep_soon(self) -> None:
        """Run the sweep now rather than at its next interval (e.g. a message was deleted: its reply goes too)."""
        self._sweep_wake.set()

    def stop_claiming(self) -> None:
        """Claim nothing new from now on: the first thing on SIGTERM (safe in a signal handler, it only sets an
        Event). Jobs in flight go on; stop() waits for them, its timeout counted from this call."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self._stopping.set()

    def stop(self, timeout: float = 20.0) -> None:
        """Claim nothing new; wait up to timeout in all (from stop_claiming, if that came first) for in-flight
        jobs (unfinished ones stay queued)."""
        self.stop_claiming()
        self._sweep_wake.set()
        with self._wake:
            self._wake.notify_all()
        deadline = (self._stop_requested_at or time.monotonic()) + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def _sweep(self) -> None:
        """Post replies whose files are all done but whose post failed or was interrupted, then run the upkeep
        callable (deleted messages' replies, index retention): at start, then every sweep_seconds."""
        while not self._stopping.is_set() and not self._suspended.is_set():
            try:
                for channel_id, message_ts in self._store.messages_ready_to_reply():
                    if self._suspended.is_set():
                        break
                    self._post_reply(channel_id, message_ts)
            except Exception:
                log.exception("the reply sweep failed")
            if self._upkeep is not None and not self._suspended.is_set():
                try:
                    self._upkeep()
                except Exception:
                    log.exception("the upkeep sweep failed")
            self._sweep_wake.wait(self._sweep_seconds)
            self._sweep_wake.clear()

    def _work(self) -> None:
        while not self._stopping.is_set() and not self._suspended.is_set():
            try:
                job = self._store.claim_job()
            except Exception:
                log.exception("could not claim a job from the store")
                job = None
            if job is None:
                self._idle()
                continue
            try:
                self._run_job(job)
            except Exception:
                log.exception("job %d failed unexpectedly", job.id)

    def _idle(self) -> None:
        with self._wake:
            if self._signals == 0 and not self._stopping.is_set():
                self._wake.wait(self._poll_seconds)
            self._signals = max(0, self._signals - 1)
