"""Labelling in a process of its own, so that Slack's acks never wait for it.

A long-running bot (HTTP under gunicorn, or Socket Mode) is two processes: the one that answers Slack acks and
records jobs in the store, and this one, which runs the worker pool (download, prepare, Rekognition, reply). One
Python interpreter doing both made every ack wait for the GIL behind dozens of worker threads (ack p99 192-216 ms
in the burst benchmark); apart, the acks have an interpreter to themselves.

The store is the queue between them. The ack side writes a byte to a pipe per job recorded, so an idle worker wakes
at once instead of at its next poll; the pipe is never waited on (a full pipe means the workers have plenty to do).
The labelling process stops when the pipe closes (its parent stopped, or died), after finishing its jobs in flight;
it exits with TOKEN_REFUSED_EXIT once Slack refuses the bot token. LabellingProcess, in the parent, starts it,
restarts it if it dies otherwise, and stops it with the parent.

Once its workers run it writes a byte to a second pipe: until then /healthz says "starting" (it imports and builds
its services for about half a second after the acks are answered).

    python -m bot.labelling_process --wake-fd N --ready-fd M --mode http|socket    (started by LabellingProcess)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)

# One byte each on the wake pipe.
JOB_RECORDED = b"j"
SWEEP_SOON = b"s"
SUSPEND = b"x"  # Slack refused the token: claim and post nothing more
STOP_CLAIMING = b"q"
MAX_WAKE_BYTES = 64  # more wakes than workers are of no use
# The labelling process's exit code when Slack refused the token: it is not started again (it could do nothing);
# the images wait in the store for a restart with a good token.
TOKEN_REFUSED_EXIT = 3
RESTART_DELAYS_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
# The labelling process yields the CPU to the acks when both want it (CFS weights: about 9 to 1 at nice 10); alone,
# it has whole cores as before.
NICENESS = 10
# glibc's malloc serves a large block (a downloaded photo, a decoded image) from its heap once a block that size was
# freed, and keeps the freed heap: the labelling process's peak memory then followed every buffer it ever had.
# Fixed at 128 KiB, every block past it is mapped and unmapped on its own (the burst benchmark without thumbnails:
# 258 -> 122 MB). An operator's own setting wins.
MALLOC_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": "131072"}
HEALTHY_AFTER_SECONDS = 60.0  # a process that ran this long restarts after the first delay again
# Ctrl-C reaches the whole process group: an idle labelling process exits before its parent says it is stopping.
PARENT_STOP_GRACE_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 20.0


class LabellingProcess:
    """The parent's handle on the labelling process; it is the listeners' Work (see bot.jobs)."""

    works_after_ack = False

    def __init__(
        self,
        mode: str,
        *,
        restart_delays: tuple[float, ...] = RESTART_DELAYS_SECONDS,
        healthy_after: float = HEALTHY_AFTER_SECONDS,
    ) -> None:
        self._mode = mode
        self._restart_delays = restart_delays
        self._healthy_after = healthy_after
        self._pipe_lock = threading.Lock()  # the write end is replaced when the process is restarted
        self._lifecycle = threading.Lock()  # a restart and stop() never interleave
        self._wake_fd: int | None = None
        self._ready_fd: int | None = None  # the child's ready pipe, read end (non-blocking)
        self._ready = False
        self._process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._stop_requested_at: float | None = None
        self._suspended = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    @property
    def running(self) -> bool:
        process = self._process
        return process is not None and process.poll() is None

    @property
    def state(self) -> str:
        if self._suspended.is_set():
            return "suspended"
        if self._stopping.is_set() or self._process is None:
            return "stopped"
        if not self.running:
            return "restarting"
        return "running" if self._is_ready() else "starting"

    def _is_ready(self) -> bool:
        """Whether the process said its workers run (a byte on the ready pipe)."""
        with self._pipe_lock:
            if not self._ready and self._ready_fd is not None:
                with contextlib.suppress(BlockingIOError):
                    self._ready = bool(os.read(self._ready_fd, 1))
            return self._ready

    def start(self) -> None:
        if self._supervisor is not None:
            raise RuntimeError("the labelling process is already running")
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="labelbot-labelling-process", daemon=True)
        self._supervisor.start()

    def _spawn(self) -> None:
        read_fd, write_fd = os.pipe()
        ready_read_fd, ready_write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        os.set_blocking(ready_read_fd, False)
        command = ["-m", "bot.labelling_process", "--wake-fd", str(read_fd), "--ready-fd", str(ready_write_fd)]
        try:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and module, no outside input)
                [sys.executable, *command, "--mode", self._mode],
                pass_fds=(read_fd, ready_write_fd),  # the working directory and environment (.env included) are ours
                env={**MALLOC_ENVIRONMENT, **os.environ},
            )
        except BaseException:
            os.close(write_fd)
            os.close(ready_read_fd)
            raise
        finally:
            os.close(read_fd)
            os.close(ready_write_fd)
        with self._pipe_lock:
            self._process, self._wake_fd, self._ready_fd, self._ready = process, write_fd, ready_read_fd, False
        log.info("labelling process %d started", process.pid)

    def _supervise(self) -> None:
        """Wait on the process; if it exits while the parent isn't stopping, start another after a delay."""
        failures = 0
        while True:
            process = self._process
            assert process is not None
            started = time.monotonic()
            code = process.wait()
            self._close_pipe()
            if self._stopping.wait(PARENT_STOP_GRACE_SECONDS):
                return
            if code == TOKEN_REFUSED_EXIT:
                self._suspended.set()
                log.warning(
                    "the labelling process stopped because Slack refused the bot token; images stay queued "
                    "until the bot is restarted with a good SLACK_BOT_TOKEN"
                )
                return
            failures = 1 if time.monotonic() - started >= self._healthy_after else failures + 1
            delay = self._restart_delays[min(failures, len(self._restart_delays)) - 1]
            log.error(
                "the labelling process %d exited (%s); images stay queued, starting another in %g s",
                process.pid,
                _exit_reason(code),
                delay,
            )
            while not self._stopping.wait(delay):
                with self._lifecycle:  # stop() holds it from reading the process to its end: no start after that
                    if self._stopping.is_set() or self._suspended.is_set():
                        return
                    try:
                        self._spawn()
                        break
                    except Exception:
                        delay = self._restart_delays[-1]
                        log.exception("could not start the labelling process; trying again in %g s", delay)
            else:
                return

    def _send(self, message: bytes) -> None:
        """Write to the wake pipe without ever waiting: a full pipe already wakes every worker."""
        with self._pipe_lock:
            if self._wake_fd is None:
                return
            # Full (BlockingIOError) or the process gone (BrokenPipeError): the jobs are in the store either way.
            with contextlib.suppress(OSError):
                os.write(self._wake_fd, message)

    def _close_pipe(self) -> None:
        with self._pipe_lock:
            if self._wake_fd is not None:
                os.close(self._wake_fd)
                self._wake_fd = None
            if self._ready_fd is not None:
                os.close(self._ready_fd)
                self._ready_fd, self._ready = None, False

    def notify(self, count: int = 1) -> None:
        if count > 0:
            self._send(JOB_RECORDED * min(count, MAX_WAKE_BYTES))

    def sweep_soon(self) -> None:
        self._send(SWEEP_SOON)

    def work_on_message(self, channel_id: str, message_ts: str) -> None:
        self.notify()

    def sweep(self) -> None:
        self.sweep_soon()

    @property
    def suspended(self) -> bool:
        return self._suspended.is_set()

    def suspend(self) -> None:
        self._suspended.set()
        self._send(SUSPEND)

    def stop_claiming(self) -> None:
        """The first thing on SIGTERM (from a signal handler: never waits on the pipe lock for long)."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self._stopping.set()
        if self._pipe_lock.acquire(timeout=0.1):
            try:
                if self._wake_fd is not None:
                    with contextlib.suppress(OSError):
                        os.write(self._wake_fd, STOP_CLAIMING)
            finally:
                self._pipe_lock.release()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Close the pipe (the process claims nothing more and finishes its jobs in flight) and wait for it, up to
        timeout from stop_claiming; past that it is killed and its unfinished jobs wait in the store."""
        self.stop_claiming()
        with self._lifecycle:
            self._close_pipe()
            process = self._process
        if process is None:
            return
        assert self._stop_requested_at is not None
        try:
            process.wait(max(0.0, self._stop_requested_at + timeout + 1.0 - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("the labelling process %d did not stop in time; its unfinished images stay queued", process.pid)
            process.kill()
            process.wait()
        if self._supervisor is not None:
            self._supervisor.join(5)


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def main(argv: list[str] | None = None) -> int:
    """The labelling process: the worker pool over the store, woken through the pipe, until the pipe closes."""
    parser = argparse.ArgumentParser(prog="python -m bot.labelling_process")
    parser.add_argument("--wake-fd", type=int, required=True)
    parser.add_argument("--ready-fd", type=int)
    parser.add_argument("--mode", choices=("http", "socket"), required=True)
    args = parser.parse_args(argv)

    from bot.config import ConfigError, load_config
    from bot.logs import configure_logging, environment_secrets
    from bot.services import build_services

    os.nice(NICENESS)
    stop = threading.Event()
    # Until the pool runs, a signal just ends the wait for it (e.g. Ctrl-C reaches the whole process group).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        config = load_config(mode=args.mode)  # the environment the parent checked and passed on
        configure_logging(config.log_level, (*config.secrets, *environment_secrets()), config.log_format)
        services = build_services(config)  # the SQLite store waits for a previous labelling process to let go
    except ConfigError as exc:
        print(f"labelbot: configuration error: {exc}", file=sys.stderr)
        return 2
    pool = services.pool
    refused = threading.Event()

    def stop_claiming() -> None:
        pool.stop_claiming()
        stop.set()

    def on_signal(*_) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):  # once is enough (and a handler run inside set() would hang)
            signal.signal(signum, signal.SIG_IGN)
        stop_claiming()

    def token_refused(*_) -> None:
        """Slack refused the token (seen here, or by the parent): nothing more can be done until a restart."""
        pool.suspend()
        refused.set()
        stop.set()

    if services.workspaces is None:  # with many installs a refused token is one install's: the others go on
        services.slack.on_token_refused(token_refused)  # after the services' own handler, which logs it

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    if stop.is_set():
        services.stores.close()
        return 0
    services.start(check_moderation_channel=False)  # the parent, which answers Slack, checks it (one warning)
    threading.Thread(target=_read_wakes, args=(args.wake_fd, pool, stop_claiming, token_refused), daemon=True).start()
    if args.ready_fd is not None:
        with contextlib.suppress(OSError):  # the parent gone: the wake pipe's end stops this process anyway
            os.write(args.ready_fd, b"r")
        os.close(args.ready_fd)
    stop.wait()
    log.info("labelling process stopping: finishing the images in flight")
    services.stop(config.drain_seconds)
    return TOKEN_REFUSED_EXIT if refused.is_set() else 0


def _read_wakes(fd: int, pool, stop_claiming, token_refused) -> None:
    """Turn the pipe's bytes into the pool's calls; the pipe's end (the parent stopped or died) stops the process."""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data or STOP_CLAIMING in data:
            stop_claiming()
            return
        if SUSPEND in data:
            token_refused()
        if SWEEP_SOON in data:
            pool.sweep_soon()
        pool.notify(data.count(JOB_RECORDED))


if __name__ == "__main__":
    sys.exit(main())
