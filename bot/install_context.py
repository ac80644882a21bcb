"""Which install the work in this thread is for: its key (bot.store.installations.workspace_key) while a request
or a job of it runs (bot.workspaces says how it is set and what reads it). "" is the one workspace of SLACK_BOT_TOKEN,
whose records keep the keys they had before labelbot served many. No imports: the stores read it too."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

ONE_WORKSPACE = ""

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("labelbot_workspace", default=None)


def current() -> str | None:
    """The key of the install this thread works for (None: no install's work is running)."""
    return _current.get()


def current_or_one() -> str:
    """current(), or the one workspace's key where no install's work is running (single-workspace mode)."""
    key = _current.get()
    return ONE_WORKSPACE if key is None else key


def workspace_or_current(workspace: str | None) -> str:
    """A store method's `workspace` argument: as given, or by default (None) the current install's."""
    return current_or_one() if workspace is None else workspace


@contextmanager
def working_for(key: str | None) -> Iterator[None]:
    """Run the block for the install `key` (None or "": the one workspace)."""
    reset = _current.set(key or ONE_WORKSPACE)
    try:
        yield
    finally:
        _current.reset(reset)
