"""An uninstall on DynamoDB: every item labelbot keeps for the install, found without a Scan and deleted in batches
(many workspaces: bot.listeners.installs). Each item of another install than the one workspace carries its key in
`workspace` (bot.store.dynamodb.base.of_install), so the by_install index of the Jobs and Settings tables lists
them; the search index's items are found through its channel registry. (The installation itself is deleted first,
by the uninstall's ack: KeptInstallations.delete_install.)

The index is eventually consistent: an item written a moment before may not be listed yet, so the listener looks a
second time later (bot.listeners.installs)."""

from __future__ import annotations

from bot.store.dynamodb.base import DynamoTables, primary_key
from bot.store.dynamodb.tag_index import DynamoTagIndex


class DynamoUninstalls:
    def __init__(self, tables: DynamoTables, tags: DynamoTagIndex) -> None:
        self._tables = tables
        self._tags = tags

    def forget_install(self, workspace: str) -> dict[str, int]:
        if not workspace:
            raise ValueError("the one workspace's records are never deleted as an install's")
        tables = self._tables
        counts = {"search index": self._tags.forget_install(workspace)}
        for what, table in (("records", tables.jobs_table), ("settings", tables.settings_table)):
            found = tables.query(table, "#workspace = :workspace", {"workspace": workspace}, index="by_install")
            keys = [primary_key(item) for item in found]
            tables.write_many(table, deletes=keys)
            counts[what] = len(keys)
        return counts
