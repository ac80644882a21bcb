"""The store, split by concern: one small protocol per concern (protocols.py), each implemented by both backends in
a module of its own, and `Stores`, the set of them one backend opens, built in one place from the config
(open_stores). The rest of the code receives the concerns it needs (a TagIndex, a JobQueue...), not the set.

    concern            protocol (protocols.py)  SQLite (sqlite/)        DynamoDB (dynamodb/)
    settings           ChannelSettingsStore     settings.py             settings.py
    queue              JobQueue                 queue.py                queue.py
    replies            ReplyState               replies.py              replies.py
    label_cache        LabelCache               label_cache.py          label_cache.py
    tags               TagIndex                 tag_index.py            tag_index.py
    deletions          Deletions                deletions.py            deletions.py
    summary            LabellingSummaries       summary.py              summary.py
    (shared)           StoreBackend             database.py, messages   base.py, wire.py, messages.py, tables.py

What each backend's concerns share: SQLite's one connection, its lock, transaction helper and process lock
(sqlite/database.py); DynamoDB's client, table names and call helpers (dynamodb/base.py). The queue, the replies,
the deletions and the Home tab's summary work on the same records, a message and one job per file (sqlite/messages.py:
the tables; dynamodb/messages.py: the message's partition): claim_reply reads the jobs it answers for, and a
DynamoDB finish_job bumps the message's revision so that a reply claimed on what was read before fails. What must
change together across concerns does so in one place: a deletion in Slack (Deletions) drops the message's index
entries, its jobs and its reply in one SQLite transaction, composing the other modules' in-transaction helpers; on
DynamoDB, in the order that lets concurrent work see it. At start-up the queue and the replies requeue what a stopped
process left, each its own (no transaction needs to span them: nothing else claims until the workers start).

Adding a concern (moderation decisions, OCR text, usage counters): a protocol in protocols.py; a SQLite module with its
SCHEMA (its own tables) and a class taking the SqliteDatabase, added to sqlite/__init__.py's open_sqlite_stores; a
DynamoDB module with a class taking the DynamoTables (its items in an existing table under a key prefix of its own,
documented in dynamodb/tables.py, or a new table there and in template.yaml), added to dynamodb/__init__.py's
open_dynamodb_stores; a field of Stores; the shared behaviour tests run it on both (tests/conftest.py's make_store).
A concern that holds a message's or a file's data (OCR text) also drops it in both deletions.py modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.store.encoding import search_words
from bot.store.protocols import (
    ChannelSettingsStore,
    Deletions,
    IndexedImage,
    Job,
    JobQueue,
    LabelCache,
    LabellingError,
    LabellingSummaries,
    LabellingSummary,
    QueueStats,
    ReplyState,
    StoreBackend,
    TagIndex,
)

if TYPE_CHECKING:
    from bot.config import Config

__all__ = [
    "ChannelSettingsStore",
    "Deletions",
    "IndexedImage",
    "Job",
    "JobQueue",
    "LabelCache",
    "LabellingError",
    "LabellingSummaries",
    "LabellingSummary",
    "QueueStats",
    "ReplyState",
    "StoreBackend",
    "Stores",
    "TagIndex",
    "open_stores",
    "search_words",
]


@dataclass(frozen=True)
class Stores:
    """Every concern of one backend, over what they share (`backend`); close() closes it."""

    settings: ChannelSettingsStore
    queue: JobQueue
    replies: ReplyState
    label_cache: LabelCache
    tags: TagIndex
    deletions: Deletions
    summary: LabellingSummaries
    backend: StoreBackend

    def check(self) -> None:
        """At start-up: raise ConfigError, naming the variable to fix, if the store can't be used."""
        self.backend.check()

    def close(self) -> None:
        self.backend.close()


def open_stores(config: Config, *, exclusive: bool = True) -> Stores:
    """LABELBOT_STORE: the SQLite file (one machine) or the DynamoDB tables (AWS Lambda, or several machines).
    exclusive: this process works on the queue (the SQLite file admits one such process; see SqliteDatabase)."""
    if config.store == "dynamodb":
        from bot.store.dynamodb import open_dynamodb_stores  # boto3's DynamoDB model loads only where it is used

        return open_dynamodb_stores(config.dynamodb_tables or {}, retention_days=config.retention_days)
    from bot.store.sqlite import open_sqlite_stores

    return open_sqlite_stores(config.db_path, exclusive=exclusive)
