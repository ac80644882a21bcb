"""The embedded default store: one SQLite file (WAL), shared by the threads and processes of one bot. Each concern
is a module with its own tables (SCHEMA) and a class over the one SqliteDatabase (database.py); messages.py holds the
records several of them share."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot.store import Stores
from bot.store.sqlite import (
    answer_cache,
    installations,
    label_cache,
    label_translations,
    messages,
    moderation,
    settings,
    tag_index,
    usage,
    where_pictures,
)
from bot.store.sqlite.answer_cache import SqliteAnswerCache
from bot.store.sqlite.database import SqliteDatabase
from bot.store.sqlite.deletions import SqliteDeletions
from bot.store.sqlite.installations import sqlite_installations, sqlite_oauth_states
from bot.store.sqlite.label_cache import SqliteLabelCache
from bot.store.sqlite.label_translations import SqliteLabelTranslations
from bot.store.sqlite.moderation import SqliteModerationDecisions
from bot.store.sqlite.queue import SqliteJobQueue
from bot.store.sqlite.replies import SqliteReplyState
from bot.store.sqlite.settings import SqliteChannelSettings
from bot.store.sqlite.summary import SqliteLabellingSummaries
from bot.store.sqlite.tag_index import SqliteTagIndex
from bot.store.sqlite.uninstalls import SqliteUninstalls
from bot.store.sqlite.usage import SqliteUsageCounters
from bot.store.sqlite.where_pictures import SqliteWherePictures

__all__ = ["SqliteDatabase", "open_sqlite_stores"]

# Each module's tables, created (or brought up to date: COLUMNS_ADDED, upgrade) when the file is opened.
SCHEMAS = (
    messages,
    settings,
    label_cache,
    answer_cache,
    tag_index,
    moderation,
    where_pictures,
    usage,
    label_translations,
    installations,
)


def open_sqlite_stores(
    path: Path | str,
    *,
    exclusive: bool = True,
    lock_wait_seconds: float = 20.0,
    clock: Callable[[], float] = time.time,
) -> Stores:
    """Every concern over one SQLite file; see SqliteDatabase for the options."""
    database = SqliteDatabase(path, exclusive=exclusive, lock_wait_seconds=lock_wait_seconds, clock=clock)
    try:
        for module in SCHEMAS:
            database.create(module.SCHEMA, getattr(module, "COLUMNS_ADDED", None), getattr(module, "upgrade", None))
    except BaseException:
        database.close()
        raise
    return Stores(
        settings=SqliteChannelSettings(database),
        queue=SqliteJobQueue(database),
        replies=SqliteReplyState(database),
        label_cache=SqliteLabelCache(database),
        answers=SqliteAnswerCache(database),
        tags=SqliteTagIndex(database),
        deletions=SqliteDeletions(database),
        summary=SqliteLabellingSummaries(database),
        moderation=SqliteModerationDecisions(database),
        pictures=SqliteWherePictures(database),
        usage=SqliteUsageCounters(database),
        translations=SqliteLabelTranslations(database),
        backend=database,
        installations=sqlite_installations(database),
        oauth_states=sqlite_oauth_states(database),
        uninstalls=SqliteUninstalls(database),
    )
