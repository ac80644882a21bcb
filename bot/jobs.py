"""Who works on the store's durable queue: a long-running bot's worker pool (threads that claim, run and finish
jobs, resuming after a restart), or on AWS Lambda the invocation after each ack (InvocationWork)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from bot.store import Job, JobQueue, ReplyState

log = logging.getLogger(__name__)

_worker = threading.local()  # in a WorkerPool's thread: .pool, and .aside once it has stepped aside
# Workers aside at once, at most (each holds its prepared image while it waits): past it, a worker waits in place.
MAX_ASIDE = 64


@contextmanager
def waiting_aside() -> Iterator[None]:
    """Around a long wait inside a job that is not the job's own work (a turn of the local text reader, another
    worker's answer for the same image): in a WorkerPool's thread, the pool starts another worker so that the images
    behind this one don't wait too, and this thread ends with its job (at most MAX_ASIDE at once; past it, and
    elsewhere: on Lambda, the CLI, it does nothing)."""
    pool = getattr(_worker, "pool", None)
    if pool is not None and not getattr(_worker, "aside", False) and pool._replace_worker():
        _worker.aside = True
    yield


class Work(Protocol):
    """What listeners and the services need of whoever does the work after the ack."""

    # True: the listeners register the work as Bolt lazy listeners, run after the ack (AWS Lambda).
    works_after_ack: bool

    def start(self) -> None: ...

    def stop(self, timeout: float = 20.0) -> None: ...

    def notify(self, count: int = 1) -> None:
        """count new jobs were recorded."""

    def sweep_soon(self) -> None:
        """Replies may be due (a message was deleted, a "busy" reply waits): look soon."""

    def suspend(self) -> None:
        """Slack refused the token: claim and post nothing more."""

    @property
    def suspended(self) -> bool: ...

    @property
    def state(self) -> str:
        """For /healthz: "running", "restarting" (the labelling process), "suspended" (token refused) or "stopped"."""

    def work_on_message(self, channel_id: str, message_ts: str) -> None:
        """Label the message's queued images now, then post its reply if it is due (in a lazy listener)."""

    def sweep(self) -> None:
        """Post the replies that are due and run the upkeep (in a lazy listener, or a scheduled invocation)."""


def post_due_replies(replies: ReplyState, post_reply: Callable[[str, str], None], stopped: Callable[[], bool]) -> None:
    """Post the replies whose files are all done but whose post failed, waited or was interrupted."""
    try:
        for channel_id, message_ts in replies.messages_ready_to_reply():
            if stopped():
                break
            post_reply(channel_id, message_ts)
    except Exception:
        log.exception("the reply sweep failed")


def run_job_logged(run_job: Callable[[Job], None], job: Job) -> None:
    """Run one job; an unexpected error is logged, never raised into the loop that runs jobs."""
    try:
        run_job(job)
    except Exception:
        log.exception("job %s failed unexpectedly", job.id)


def run_upkeep(upkeep: Callable[[], None] | None) -> None:
    if upkeep is None:
        return
    try:
        upkeep()
    except Exception:
        log.exception("the upkeep sweep failed")


class WorkerPool:
    """N threads that claim jobs from the store; enqueuers call notify() so an idle worker wakes at once.

    Claiming is a write transaction on the store, which the listener's acks share, so an idle pool claims little: a
    worker whose claim found nothing tries again only if jobs were recorded since that claim began, and otherwise
    polls (a safety net: every job recorded in this process notifies) so that the pool as a whole looks about once a
    poll_seconds, not once per worker."""

    works_after_ack = False

    def __init__(
        self,
        queue: JobQueue,
        replies: ReplyState,
        run_job: Callable[[Job], None],
        post_reply: Callable[[str, str], None],
        workers: int,
        *,
        poll_seconds: float = 1.0,
        sweep_seconds: float = 30.0,
        upkeep: Callable[[], None] | None = None,
    ) -> None:
        self._queue = queue
        self._replies = replies
        self._run_job = run_job
        self._post_reply = post_reply
        self._size = workers
        self._poll_seconds = poll_seconds
        self._sweep_seconds = sweep_seconds
        self._upkeep = upkeep
        self._wake = threading.Condition()
        self._notified = 0  # jobs notified so far
        self._stopping = threading.Event()
        self._stop_requested_at: float | None = None  # monotonic time of the first stop_claiming()
        self._suspended = threading.Event()  # Slack refused the token: claim and post nothing until a restart
        self._sweep_wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._replacements = 0  # workers started for one that stepped aside (waiting_aside), since start
        self._aside = 0  # workers aside now (each ends with its job)

    def start(self) -> None:
        """Requeue what a stopped process left running, then work; replies it never sent go out in the sweep."""
        if self._threads:
            raise RuntimeError("the worker pool is already running")
        requeued = self._queue.requeue_interrupted()
        self._replies.requeue_interrupted()
        for index in range(self._size):
            self._start_thread(self._work, f"labelbot-worker-{index}")
        self._start_thread(self._sweep, "labelbot-reply-sweep")
        log.info("started %d workers; %d interrupted job(s) requeued", self._size, requeued)
        self.notify(self._queue.queue_stats().depth)

    def _start_thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._threads_lock:  # the ended ones go (one not started yet has no ident: it stays)
            self._threads[:] = [kept for kept in self._threads if kept.ident is None or kept.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _replace_worker(self) -> bool:
        """The calling worker steps aside for the rest of its job, and another claims jobs in its place; False (it
        waits in place) while stopping, or with MAX_ASIDE aside already."""
        if self._stopping.is_set() or self._suspended.is_set():
            return False
        with self._threads_lock:
            if self._aside >= MAX_ASIDE:
                return False
            self._aside += 1
            self._replacements += 1
            number = self._replacements
        self._start_thread(self._work, f"labelbot-worker-r{number}")
        return True

    def notify(self, count: int = 1) -> None:
        if count <= 0:
            return
        with self._wake:
            self._notified += count
            self._wake.notify(count)

    @property
    def suspended(self) -> bool:
        return self._suspended.is_set()

    @property
    def state(self) -> str:
        if self._suspended.is_set():
            return "suspended"
        return "running" if self._threads and not self._stopping.is_set() else "stopped"

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

    def work_on_message(self, channel_id: str, message_ts: str) -> None:
        self.notify()  # the threads take it from the queue

    def sweep(self) -> None:
        self.sweep_soon()

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
        while True:  # a worker stepping aside may start another meanwhile: until every one has been waited for
            with self._threads_lock:
                waiting = [thread for thread in self._threads if thread.is_alive()]
            if not waiting or time.monotonic() >= deadline:
                break
            for thread in waiting:
                thread.join(max(0.0, deadline - time.monotonic()))
        with self._threads_lock:
            self._threads.clear()

    def _sweep(self) -> None:
        """Post replies whose files are all done but whose post failed or was interrupted, then run the upkeep
        callable (deleted messages' replies, index retention): at start, then every sweep_seconds."""
        while not self._stopping.is_set() and not self._suspended.is_set():
            post_due_replies(self._replies, self._post_reply, self._suspended.is_set)
            if not self._suspended.is_set():
                run_upkeep(self._upkeep)
            self._sweep_wake.wait(self._sweep_seconds)
            self._sweep_wake.clear()

    def _work(self) -> None:
        _worker.pool, _worker.aside = self, False
        while not self._stopping.is_set() and not self._suspended.is_set() and not _worker.aside:
            with self._wake:
                notified = self._notified
            try:
                job = self._queue.claim_job()
            except Exception:
                log.exception("could not claim a job from the store")
                job = None
            if job is None:
                self._idle(notified)
                continue
            run_job_logged(self._run_job, job)
        if _worker.aside:  # its job is done: it was one of those aside
            with self._threads_lock:
                self._aside -= 1

    def _idle(self, notified_before_claim: int) -> None:
        """Wait for a notify, unless one came since the claim that found nothing began (then claim again)."""
        with self._wake:
            if self._notified == notified_before_claim and not self._stopping.is_set():
                self._wake.wait(self._poll_seconds * self._size * random.uniform(0.5, 1.5))  # noqa: S311 (jitter)


class InvocationWork:
    """On AWS Lambda: no threads. The invocation after an ack (a Bolt lazy listener, see bot.aws_lambda) labels the
    message the ack recorded and posts its reply; a scheduled invocation requeues what a timed-out invocation left
    running, labels what is still queued while time allows, posts the replies that are due and runs the upkeep.
    Each ends with finish() (the emoji the replies queued are added then, as no thread outlives an invocation)."""

    works_after_ack = True

    def __init__(
        self,
        queue: JobQueue,
        replies: ReplyState,
        run_job: Callable[[Job], None],
        post_reply: Callable[[str, str], None],
        *,
        upkeep: Callable[[], None] | None = None,
        finish: Callable[[], None] | None = None,
    ) -> None:
        self._queue = queue
        self._replies = replies
        self._run_job = run_job
        self._post_reply = post_reply
        self._upkeep = upkeep
        self._finish = finish or (lambda: None)
        self._suspended = False

    def start(self) -> None:
        """Nothing to start: other invocations may be running, so nothing is requeued here (see sweep_queue)."""

    def stop(self, timeout: float = 20.0) -> None:
        pass

    def notify(self, count: int = 1) -> None:
        """The lazy listener that follows the ack does the work."""

    def sweep_soon(self) -> None:
        """The lazy listener that follows the ack sweeps."""

    def suspend(self) -> None:
        self._suspended = True

    @property
    def suspended(self) -> bool:
        return self._suspended

    @property
    def state(self) -> str:
        return "suspended" if self._suspended else "running"

    def work_on_message(self, channel_id: str, message_ts: str) -> None:
        try:
            for job in self._queue.claim_message_jobs(channel_id, message_ts):
                if self._suspended:
                    return  # left running: the scheduled sweep requeues it (with a good token)
                run_job_logged(self._run_job, job)
            if not self._suspended:
                self._post_reply(channel_id, message_ts)  # a retried event's, or a "busy" one: no job ran to post it
        finally:
            self._finish()

    def sweep(self) -> None:
        try:
            post_due_replies(self._replies, self._post_reply, lambda: self._suspended)
            if not self._suspended:
                run_upkeep(self._upkeep)
        finally:
            self._finish()

    def sweep_queue(self, stalled_after_seconds: float, time_left: Callable[[], float], job_budget: float) -> int:
        """The scheduled sweep: jobs running for longer than stalled_after_seconds (an invocation that timed out or
        crashed) go back to the queue; queued jobs are labelled while time_left() exceeds job_budget; then the due
        replies and the upkeep. Returns how many jobs ran."""
        stalled_since = time.time() - stalled_after_seconds
        requeued = self._queue.requeue_stalled(stalled_since)
        self._replies.requeue_stalled(stalled_since)
        if requeued:
            log.warning("%d job(s) left running by an invocation that stopped were requeued", requeued)
        ran = 0
        while not self._suspended and time_left() > job_budget:
            job = self._queue.claim_job()
            if job is None:
                break
            run_job_logged(self._run_job, job)
            ran += 1
        self.sweep()
        return ran
