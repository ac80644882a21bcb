"""The label cache on DynamoDB: items pk "cache#<key>", sk "labels" in the Jobs table, in by_state "cache" oldest
first for the purge; they expire after ANALYSIS_CACHE_DAYS."""

from __future__ import annotations

import json

from bot.analysis import ANALYSIS_CACHE_DAYS
from bot.render import Label
from bot.store.dynamodb.base import DAY, DynamoTables, is_live, of_install
from bot.store.dynamodb.wire import to_wire
from bot.store.encoding import label_from_dict, label_to_dict


class DynamoLabelCache:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def cached_labels(self, cache_key: str, *, newer_than: float) -> tuple[Label, ...] | None:
        item = self._tables.get(self._tables.jobs_table, {"pk": "cache#" + cache_key, "sk": "labels"})
        if item is None or not is_live(item, self._tables.clock()) or float(item["created_at"]) < newer_than:
            return None
        return tuple(label_from_dict(x) for x in json.loads(item["labels"]))

    def cache_labels(self, cache_key: str, labels: tuple[Label, ...]) -> None:
        now = self._tables.clock()
        item = {
            "pk": "cache#" + cache_key,
            "sk": "labels",
            "labels": json.dumps([label_to_dict(label) for label in labels]),
            "created_at": now,
            "state_key": "cache",  # by_state: the purge finds them oldest first
            "state_since": now,
            "expires_at": int(now + ANALYSIS_CACHE_DAYS * DAY),
            **of_install(),
        }
        self._tables.client.put_item(TableName=self._tables.jobs_table, Item=to_wire(item))

    def purge_label_cache(self, older_than: float) -> int:
        stale = self._tables.query(
            self._tables.jobs_table,
            "#state_key = :cache AND #state_since < :older_than",
            {"cache": "cache", "older_than": older_than},
            index="by_state",
        )
        # Conditional: the index lags, and the same key may have been cached afresh since.
        return sum(
            self._tables.delete(self._tables.jobs_table, item, "#created_at < :older_than", older_than=older_than)
            for item in stale
        )
