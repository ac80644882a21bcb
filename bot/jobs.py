"""The worker pool over the store's durable queue: claim, run, finish; resume after a restart."""

from __future__ import annotations

import logging
import threading
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
    ) -> None:
        self._store = store
        self._run_job = run_job
        self._post_reply = post_reply
        self._size = workers
        self._poll_seconds = poll_seconds
        self._wake = threading.Condition()
        self._signals = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Requeue what a previous process left running, post replies it finished but never sent, then work."""
        for channel_id, message_ts in self._store.resume_unfinished():
            self._post_reply(channel_id, message_ts)
        for index in range(self._size):
            thread = threading.Thread(target=self._work, name=f"labelbot-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        depth = self._store.queue_stats().depth
        log.info("started %d workers; %d job(s) waiting", self._size, depth)
        self.notify(depth)

    def notify(self, count: int = 1) -> None:
        if count <= 0:
            return
        with self._wake:
            self._signals += count
            self._wake.notify(count)

    def stop(self, timeout: float = 25.0) -> None:
        """Claim nothing new; wait up to timeout for in-flight jobs (unfinished ones stay queued)."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _work(self) -> None:
        while not self._stopping.is_set():
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
