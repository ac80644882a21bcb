"""The records the queue, the replies, the deletions and the Home tab's summary share, in the Jobs table: a message's
partition "msg#<channel>#<ts>" holds its item (reply state, a revision) and one job per file, and what Slack deleted
is marked there (deleted_at, "deleted-file#" items). Any change to a message's jobs bumps its revision in the same
transaction (touch_message), so a reply claimed on what was read before fails and is tried again."""

from __future__ import annotations

import json
from collections.abc import Iterator

from bot.store.dynamodb.base import DynamoTables, is_live
from bot.store.dynamodb.wire import to_wire, update_args
from bot.store.protocols import Job


def message_key(channel_id: str, message_ts: str) -> dict:
    return {"pk": f"msg#{channel_id}#{message_ts}", "sk": "message"}


def message_key_of(item: dict) -> dict:
    """The message item's key from any item of its partition."""
    return {"pk": item["pk"], "sk": "message"}


def deleted_file_key(file_id: str) -> dict:
    return {"pk": "deleted-file#" + file_id, "sk": "file"}


def job_from_item(item: dict) -> Job:
    return Job(
        id=f"{item['pk']}|{item['sk']}",
        channel_id=item["channel_id"],
        message_ts=item["message_ts"],
        thread_ts=item["thread_ts"],
        file=json.loads(item["file"]),
        attempts=int(item["attempts"]),
        user_id=item.get("user_id", ""),
        channel_type=item.get("channel_type", ""),
        workspace=item.get("workspace", ""),
    )


def message_and_jobs(
    tables: DynamoTables, channel_id: str, message_ts: str, *, live_only: bool = True
) -> tuple[dict | None, list[dict]]:
    """The message's item and its jobs in post order, read consistently; live_only: what hasn't expired."""
    now = tables.clock()
    items = [
        item
        for item in tables.query(tables.jobs_table, "#pk = :pk", {"pk": message_key(channel_id, message_ts)["pk"]})
        if is_live(item, now) or not live_only
    ]
    message = next((item for item in items if item["sk"] == "message"), None)
    jobs = sorted((item for item in items if item["sk"].startswith("file#")), key=lambda j: int(j["position"]))
    return message, jobs


def touch_message(tables: DynamoTables, pk: str, *, ready: bool) -> dict:
    """A transaction's part: the message's jobs changed, so a reply claimed on what was read before fails; with
    ready, the message is marked for the reply sweep too (messages_ready_to_reply checks it)."""
    if not ready:
        update = update_args("ADD #revision :one", "attribute_exists(#pk)", one=1)
    else:
        update = update_args(
            "ADD #revision :one SET #state_key = :ready, #state_since = :now",
            "attribute_exists(#pk) AND #reply_state = :waiting AND attribute_not_exists(#deleted_at)",
            one=1,
            ready="reply-ready",
            now=tables.clock(),
            waiting="waiting",
        )
    return {"Update": {"TableName": tables.jobs_table, "Key": to_wire({"pk": pk, "sk": "message"}), **update}}


def mark_recorded(tables: DynamoTables, key: dict) -> None:
    """Every job of the message is recorded: its reply may be claimed once they are done."""
    tables.update(tables.jobs_table, key, "SET #recorded = :true", "attribute_exists(#pk)", true=True)


def hint_ready(tables: DynamoTables, key: dict, now: float) -> None:
    """Mark a waiting message for the reply sweep (it checks whether its jobs are all done)."""
    tables.update(
        tables.jobs_table,
        key,
        "SET #state_key = :ready, #state_since = :now",
        "attribute_exists(#pk) AND #reply_state = :waiting AND attribute_not_exists(#deleted_at)",
        ready="reply-ready",
        now=now,
        waiting="waiting",
    )


def taken_before(tables: DynamoTables, state: str, older_than: float) -> Iterator[dict]:
    """by_state's items in `state` ("running" jobs, "reply-posting" messages) since before older_than."""
    if older_than == float("inf"):
        return tables.query(tables.jobs_table, "#state_key = :state", {"state": state}, index="by_state")
    return tables.query(
        tables.jobs_table,
        "#state_key = :state AND #state_since < :older_than",
        {"state": state, "older_than": older_than},
        index="by_state",
    )


def was_deleted(tables: DynamoTables, channel_id: str, message_ts: str, file_id: str) -> bool:
    """Whether the message, or the file, was deleted in Slack."""
    now = tables.clock()
    keys = [message_key(channel_id, message_ts), deleted_file_key(file_id)]
    found = [item for item in tables.get_many(tables.jobs_table, keys) if is_live(item, now)]
    return any(item["sk"] == "file" or "deleted_at" in item for item in found)
