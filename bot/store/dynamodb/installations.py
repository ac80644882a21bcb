"""Slack's OAuth installs and states on DynamoDB (bot.store.installations), in the Jobs table: an install's entries
are items pk "installation#<enterprise id or ->:<team id or ->", sk "bot" | "installer" | "installer:<user id>" (the
values as JSON in `saved`, tokens included: the table is readable by the two Lambda roles only), read by key, listed
with one Query of the partition, never a Scan; no expires_at (kept until uninstalled). A state is pk
"oauth_state#<state>", sk "state", with expires_at (TTL deletes it later; reads skip it at once), consumed by one
DeleteItem conditioned on its being there and unexpired: at most one caller ever gets True."""

from __future__ import annotations

from bot.store.dynamodb.base import DynamoTables
from bot.store.dynamodb.wire import to_wire
from bot.store.installations import KeptInstallations, KeptOAuthStates


def dynamo_installations(tables: DynamoTables) -> KeptInstallations:
    table = tables.jobs_table

    def item_key(key: str, entry: str) -> dict:
        return {"pk": f"installation#{key}", "sk": entry}

    def get(key: str, entry: str) -> str | None:
        item = tables.get(table, item_key(key, entry))
        return None if item is None else item["saved"]

    def put(key: str, entry: str, saved: str) -> None:
        item = {**item_key(key, entry), "saved": saved, "saved_at": tables.clock()}
        tables.client.put_item(TableName=table, Item=to_wire(item))

    def entries(key: str) -> list[str]:
        found = tables.query(table, "#pk = :pk", {"pk": f"installation#{key}"}, projection="#saved_at")
        return [item["sk"] for item in found]

    def delete(key: str, entry: str | None) -> None:
        tables.write_many(table, deletes=[item_key(key, sk) for sk in ([entry] if entry else entries(key))])

    def claim(key: str, entry: str, until: float, now: float) -> bool:
        claimed = tables.update(
            table,
            item_key(key, entry),
            "SET #until = :until, #saved_at = :now",
            "attribute_not_exists(#pk) OR #until <= :now",
            until=until,
            now=now,
        )
        return claimed is not None

    return KeptInstallations(get, put, delete, entries, claim, clock=tables.clock)


def dynamo_oauth_states(tables: DynamoTables) -> KeptOAuthStates:
    table = tables.jobs_table

    def put(state: str, expires_at: float) -> None:
        item = {"pk": f"oauth_state#{state}", "sk": "state", "expires_at": int(expires_at) + 1}
        tables.client.put_item(TableName=table, Item=to_wire(item))

    def take(state: str, now: float) -> bool:
        key = {"pk": f"oauth_state#{state}", "sk": "state"}
        return tables.delete(table, key, "attribute_exists(#pk) AND #expires_at > :now", now=now)

    return KeptOAuthStates(put, take, clock=tables.clock)
