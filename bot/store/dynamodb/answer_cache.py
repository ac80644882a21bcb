"""The analysis steps' answer cache on DynamoDB (moderation, later text; labels have label_cache.py): items pk
"cache#<key>", sk "answer#<step>" in the Jobs table, beside the label cache's sk "labels" (so never the same item),
the answer a JSON string attribute (not a map: no Decimal, floats round-trip exactly); in by_state "answer-cache"
oldest first for the purge (not the label cache's "cache", so neither purge counts the other's items); they expire
after ANALYSIS_CACHE_DAYS."""

from __future__ import annotations

import json
from typing import Any

from bot.analysis import ANALYSIS_CACHE_DAYS
from bot.store.dynamodb.base import DAY, DynamoTables, is_live, of_install
from bot.store.dynamodb.wire import to_wire

STATE = "answer-cache"


def _key(step: str, key: str) -> dict:
    return {"pk": "cache#" + key, "sk": "answer#" + step}


class DynamoAnswerCache:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def cached_answer(self, step: str, key: str, *, newer_than: float) -> Any | None:
        item = self._tables.get(self._tables.jobs_table, _key(step, key))
        if item is None or not is_live(item, self._tables.clock()) or float(item["created_at"]) < newer_than:
            return None
        return json.loads(item["answer"])

    def cache_answer(self, step: str, key: str, answer: Any) -> None:
        now = self._tables.clock()
        item = {
            **_key(step, key),
            "answer": json.dumps(answer),
            "created_at": now,
            "state_key": STATE,  # by_state: the purge finds them oldest first
            "state_since": now,
            "expires_at": int(now + ANALYSIS_CACHE_DAYS * DAY),
            **of_install(),
        }
        self._tables.client.put_item(TableName=self._tables.jobs_table, Item=to_wire(item))

    def purge_answers(self, older_than: float) -> int:
        stale = self._tables.query(
            self._tables.jobs_table,
            "#state_key = :state AND #state_since < :older_than",
            {"state": STATE, "older_than": older_than},
            index="by_state",
        )
        # Conditional: the index lags, and the same key may have been cached afresh since.
        return sum(
            self._tables.delete(self._tables.jobs_table, item, "#created_at < :older_than", older_than=older_than)
            for item in stale
        )
