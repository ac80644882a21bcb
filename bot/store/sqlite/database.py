"""What the SQLite concerns share: one file (WAL) and one connection, its lock and transaction helper, the clock,
and the process lock that lets one labelling process work on the file at a time."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.config import ConfigError


class SqliteDatabase:
    def __init__(
        self,
        path: Path | str,
        *,
        exclusive: bool = True,
        lock_wait_seconds: float = 20.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """exclusive: this process works on the queue and holds the database's process lock (waiting up to
        lock_wait_seconds for it); the process that only answers Slack's acks beside it opens the file shared.
        clock: the time records are stamped with (tests move it)."""
        self.clock = clock
        path = str(path)
        if path != ":memory:" and not os.path.exists(path):
            # Created owner-only before SQLite opens it; its -wal and -shm files inherit the mode.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._process_lock = None
        if exclusive and path != ":memory:":
            self._process_lock = _hold_process_lock(path + ".lock", lock_wait_seconds)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    def create(
        self,
        schema: str,
        columns_added: dict[str, tuple[tuple[str, str], ...]] | None = None,
        upgrade: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """A concern's tables and indexes (CREATE ... IF NOT EXISTS), then the columns added to its tables after
        they first shipped ({table: ((name, SQL type), ...)}): older databases get them on open. Then `upgrade`, in
        one write transaction, for a change ALTER can't make (it checks, in the transaction, what is to do)."""
        with self._lock:
            self._db.executescript(schema)
            for table, columns in (columns_added or {}).items():
                _add_missing_columns(self._db, table, columns)
        if upgrade is not None:
            with self.transaction() as db:
                upgrade(db)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE), committed when the block ends, rolled back if it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads outside a transaction (one statement each)."""
        with self._lock:
            yield self._db

    def check(self) -> None:
        """Nothing more to check: opening made (or upgraded) the schema and took the process lock."""

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._process_lock is not None:
            os.close(self._process_lock)  # releases the flock
            self._process_lock = None


def _add_missing_columns(db: sqlite3.Connection, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
    for name, sql_type in columns:
        if name not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")


def _hold_process_lock(path: str, wait_seconds: float) -> int:
    """One process working on a database's queue: a second one would requeue the first one's running jobs.

    Waits a while, so a restarting process (a gunicorn reload, a redeploy) can take over from a draining one.
    """
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise ConfigError(
                    f"LABELBOT_DB {path[: -len('.lock')]!r} is in use by another labelbot process; "
                    "give each process its own database"
                ) from None
            time.sleep(0.2)
