"""Label names translated with Amazon Translate, on DynamoDB: items pk "translation#<language>", sk "label#<name>"
in the Jobs table (the translation in `translation`), read by key with BatchGetItem (up to 100 names a call, never a
Scan), written with PutItem. No expires_at and in no index: kept for good, so each name costs one call ever per
language. One partition per language holds a few hundred names at most (Rekognition's labels the table lacks), and
lets an operator list or clear them with one Query."""

from __future__ import annotations

from collections.abc import Collection

from bot.store.dynamodb.base import DynamoTables
from bot.store.dynamodb.wire import to_wire


def _key(language: str, name: str) -> dict:
    return {"pk": f"translation#{language}", "sk": f"label#{name}"}


class DynamoLabelTranslations:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def translations(self, language: str, names: Collection[str]) -> dict[str, str]:
        items = self._tables.get_many(self._tables.jobs_table, (_key(language, name) for name in names))
        return {item["sk"].removeprefix("label#"): item["translation"] for item in items}

    def keep_translation(self, language: str, name: str, text: str) -> None:
        item = {**_key(language, name), "translation": text, "translated_at": self._tables.clock()}
        self._tables.client.put_item(TableName=self._tables.jobs_table, Item=to_wire(item))
