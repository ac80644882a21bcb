"""The store, split by concern: one small protocol per concern (protocols.py), each implemented by both backends in
a module of its own, and `Stores`, one backend's set of them, opened in one place from the config (open_stores). The
rest of the code receives the concerns it needs (a TagIndex, a JobQueue and ReplyState...), not the backend.

    Stores field   protocol              SQLite (sqlite/)     DynamoDB (dynamodb/)
    settings       ChannelSettingsStore  settings.py          settings.py
    queue          JobQueue              queue.py             queue.py
    replies        ReplyState            replies.py           replies.py
    deletions      Deletions             deletions.py         deletions.py
    summary        LabellingSummaries    summary.py           summary.py
    label_cache    LabelCache            label_cache.py       label_cache.py
    answers        StepAnswerCache       answer_cache.py      answer_cache.py
    tags           TagIndex              tag_index.py         tag_index.py, stemmer.py
    moderation     ModerationDecisions   moderation.py        moderation.py
    pictures       WherePictures         where_pictures.py    where_pictures.py
    usage          UsageCounters         usage.py             usage.py
    translations   LabelTranslations     label_translations.py label_translations.py
    backend        StoreBackend          database.py          base.py (wire.py, tables.py)

What a backend's concerns share: on SQLite one connection, its lock, the transaction helper and the process lock
(database.py); on DynamoDB the client, the table names and the call helpers (base.py). The queue, the replies, the
deletions and the summary work on the same records, a message and one job per file (messages.py in each backend:
SQLite's tables and in-transaction helpers, DynamoDB's message partition): claim_reply reads the jobs it answers for
in its own transaction (SQLite) or checks the message's revision, which every job change bumps (DynamoDB). Only a
deletion in Slack must change several concerns together, so it is a concern of its own (Deletions) that coordinates
them: one SQLite transaction composing tag_index's and messages' helpers; on DynamoDB, the message marked deleted
first so that labelling or a reply under way sees it. At start-up the queue and the replies each requeue what a
stopped process left (jobs.py calls both; nothing else claims meanwhile, so no transaction needs to span them).

Adding a concern (moderation decisions, OCR text, usage counters): its protocol in protocols.py and a field of
Stores; sqlite/<concern>.py with its own tables (SCHEMA) and a class taking the SqliteDatabase, listed in
sqlite/__init__.py (SCHEMAS and open_sqlite_stores); dynamodb/<concern>.py with a class taking the DynamoTables, its
items in an existing table under a pk prefix of its own (documented in dynamodb/tables.py; a new table also goes in
template.yaml, config.py and DynamoTables), built in dynamodb/__init__.py's open_dynamodb_stores. Its behaviour
tests take tests/conftest.py's make_store, so they run on both; test_store checks that both match the protocol. A
concern that keeps data of a message or a file (OCR text) drops it in both deletions.py modules too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk.oauth.state_store import OAuthStateStore

from bot.store.encoding import search_words
from bot.store.installations import KeptInstallations
from bot.store.protocols import (
    DECISIONS,
    ChannelSettingsStore,
    Deletions,
    HeldImage,
    IndexedImage,
    Job,
    JobQueue,
    LabelCache,
    LabelledImage,
    LabellingError,
    LabellingSummaries,
    LabellingSummary,
    LabelTranslations,
    ModerationDecisions,
    PictureFile,
    QueueStats,
    ReplyState,
    StepAnswerCache,
    StoreBackend,
    TagIndex,
    Uninstalls,
    UsageCounters,
    WherePictures,
)

if TYPE_CHECKING:
    from bot.config import Config

__all__ = [
    "DECISIONS",
    "ChannelSettingsStore",
    "Deletions",
    "HeldImage",
    "IndexedImage",
    "Job",
    "JobQueue",
    "LabelCache",
    "LabelTranslations",
    "LabelledImage",
    "LabellingError",
    "LabellingSummaries",
    "LabellingSummary",
    "ModerationDecisions",
    "PictureFile",
    "QueueStats",
    "ReplyState",
    "StepAnswerCache",
    "StoreBackend",
    "Stores",
    "TagIndex",
    "UsageCounters",
    "WherePictures",
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
    answers: StepAnswerCache
    tags: TagIndex
    deletions: Deletions
    summary: LabellingSummaries
    moderation: ModerationDecisions
    pictures: WherePictures
    usage: UsageCounters
    translations: LabelTranslations
    backend: StoreBackend
    # Slack's OAuth installs and "Add to Slack" states: slack_sdk's interfaces, which Bolt calls
    # (bot.store.installations; tests/test_installations.py)
    installations: KeptInstallations
    oauth_states: OAuthStateStore
    uninstalls: Uninstalls  # many workspaces: an uninstalled install's records deleted

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
