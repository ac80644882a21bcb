"""The DynamoDB store (AWS Lambda, or several machines sharing one queue): every concern over the three tables of
dynamodb/tables.py, behaving as the SQLite store does, each in a module of its own over one DynamoTables (base.py:
the client, the table names and the calls); messages.py holds the message partition several of them share.

Every access is a GetItem, a Query of one partition, a BatchGet/BatchWrite or a conditional write; no Scan. Retention:
items carry expires_at (DynamoDB's TTL): finished jobs and settled messages their time plus retention_days (which
should equal the upkeep's), index entries the message ts plus it, cached labels and the other steps' cached answers
30 days. TTL deletes up to ~48 h late, so every read skips expired items itself. The hourly purges delete what is
past the cutoff sooner: the index per registered channel, finished jobs by day (the PURGE_LOOKBACK_DAYS before the
cutoff: older ones an earlier purge or TTL removed), cached labels from by_state "cache", the other steps' answers
from "answer-cache", held images and releases from by_state "held" and "released"; a deleted file's marker and a
message left with no job go by TTL alone. Each module's docstring says how it reads and writes, and its limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from botocore.client import BaseClient

from bot.store import Stores
from bot.store.dynamodb.answer_cache import DynamoAnswerCache
from bot.store.dynamodb.base import DynamoTables, build_dynamodb_client
from bot.store.dynamodb.deletions import DynamoDeletions
from bot.store.dynamodb.installations import dynamo_installations, dynamo_oauth_states
from bot.store.dynamodb.label_cache import DynamoLabelCache
from bot.store.dynamodb.label_translations import DynamoLabelTranslations
from bot.store.dynamodb.moderation import DynamoModerationDecisions
from bot.store.dynamodb.queue import DynamoJobQueue
from bot.store.dynamodb.replies import DynamoReplyState
from bot.store.dynamodb.settings import DynamoChannelSettings
from bot.store.dynamodb.summary import DynamoLabellingSummaries
from bot.store.dynamodb.tag_index import DynamoTagIndex
from bot.store.dynamodb.uninstalls import DynamoUninstalls
from bot.store.dynamodb.usage import DynamoUsageCounters
from bot.store.dynamodb.where_pictures import DynamoWherePictures
from bot.store.stemmer import index_stems

__all__ = ["DynamoTables", "build_dynamodb_client", "index_stems", "open_dynamodb_stores"]


def open_dynamodb_stores(
    tables: Mapping[str, str],
    *,
    client: BaseClient | None = None,
    retention_days: int = 90,
    clock: Callable[[], float] = time.time,
) -> Stores:
    """Every concern over the tables {"Settings": name, "Jobs": name, "Tags": name}; see DynamoTables."""
    shared = DynamoTables(tables, client=client, retention_days=retention_days, clock=clock)
    tags = DynamoTagIndex(shared)
    return Stores(
        settings=DynamoChannelSettings(shared),
        queue=DynamoJobQueue(shared),
        replies=DynamoReplyState(shared),
        label_cache=DynamoLabelCache(shared),
        answers=DynamoAnswerCache(shared),
        tags=tags,
        deletions=DynamoDeletions(shared),
        summary=DynamoLabellingSummaries(shared),
        moderation=DynamoModerationDecisions(shared),
        pictures=DynamoWherePictures(shared),
        usage=DynamoUsageCounters(shared),
        translations=DynamoLabelTranslations(shared),
        backend=shared,
        installations=dynamo_installations(shared),
        oauth_states=dynamo_oauth_states(shared),
        uninstalls=DynamoUninstalls(shared, tags),
    )
