"""Moderation decisions on DynamoDB, in the Jobs table (dynamodb/tables.py lists the items):

- the held image: pk "held#<channel>#<message_ts>", sk "file#<file_id>", so a message's records are one partition
  (forget_message: one Query); in by_state "held" (state_since = held_at) for the purge and held_since (the Home
  tab's week, newest first).
- its file's pointer: pk "held-file#<file_id>", sk "<channel>#<message_ts>", written in one transaction with it, so a
  file's records are one partition too (forget_file: one consistent Query). Not Jobs' by_file index: its reads lag
  (a file deleted just after its hold would keep it), and deletions.py reads every by_file hit as a job of the file;
  so the held item carries no `file_id` attribute (the file id is in its sk and in `held_file`).
- a release: pk "released#<content_key>", sk "content", put when decide(..., "released") wins, so released_content
  is one GetItem; in by_state "released" for the purge. A deletion in Slack leaves it.

decide is a conditional UpdateItem (attribute_not_exists(decision)): of several at once exactly one succeeds.
Everything carries expires_at (held_at, or the release, plus retention_days); reads skip expired items, and the
purge deletes what by_state finds before the cutoff, as label_cache.py's does. Limit: a process dying between a
won "released" decision and the release's PutItem leaves that content unreleased (its image's record says released).
"""

from __future__ import annotations

from collections.abc import Collection

from bot.install_context import workspace_or_current
from bot.store.dynamodb import messages
from bot.store.dynamodb.base import DynamoTables, is_live, of_install
from bot.store.dynamodb.wire import condition_args, to_wire
from bot.store.encoding import categories_from_json, categories_to_json
from bot.store.protocols import ALL_INSTALLS, DECISIONS, HeldImage


class DynamoModerationDecisions:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def hold(self, image: HeldImage) -> bool:
        now = self._tables.clock()
        expires_at = int(image.held_at + self._tables.retention)
        item = {
            **held_key(image.channel_id, image.message_ts, image.file_id),
            "channel_id": image.channel_id,
            "message_ts": image.message_ts,
            "held_file": image.file_id,
            "user_id": image.user_id,
            "content_key": image.content_key,
            "categories": categories_to_json(image.categories),
            "held_at": image.held_at,
            "notice_channel": image.notice_channel,
            "notice_ts": image.notice_ts,
            **of_install(image.workspace),  # absent: the one workspace's
            "state_key": "held",  # by_state: the purge finds them oldest first
            "state_since": image.held_at,
            "expires_at": expires_at,
        }
        pointer = {
            **file_pointer_key(image.channel_id, image.message_ts, image.file_id),
            **of_install(image.workspace),
            "channel_id": image.channel_id,
            "message_ts": image.message_ts,
            "expires_at": expires_at,
        }
        table = self._tables.jobs_table
        unless_live = condition_args("attribute_not_exists(#pk) OR #expires_at <= :now", now=now)
        written = self._tables.transact(
            [
                {"Put": {"TableName": table, "Item": to_wire(item), **unless_live}},
                {"Put": {"TableName": table, "Item": to_wire(pointer)}},
            ]
        )
        if written is not None:
            return False
        # Checked after writing, as tag_index.py does: a deletion in Slack in between either sees the record or is seen.
        if messages.was_deleted(self._tables, image.channel_id, image.message_ts, image.file_id):
            self._tables.write_many(table, deletes=[item, pointer])
            return False
        return True

    def held(self, channel_id: str, message_ts: str, file_id: str) -> HeldImage | None:
        item = self._tables.get(self._tables.jobs_table, held_key(channel_id, message_ts, file_id))
        return None if item is None or not is_live(item, self._tables.clock()) else _image(item)

    def set_notice(self, channel_id: str, message_ts: str, file_id: str, notice_channel: str, notice_ts: str) -> None:
        self._tables.update(
            self._tables.jobs_table,
            held_key(channel_id, message_ts, file_id),
            "SET #notice_channel = :notice_channel, #notice_ts = :notice_ts",
            "attribute_exists(#pk)",
            notice_channel=notice_channel,
            notice_ts=notice_ts,
        )

    def decide(
        self, channel_id: str, message_ts: str, file_id: str, decision: str, decided_by: str
    ) -> HeldImage | None:
        if decision not in DECISIONS:
            raise ValueError(f"decision {decision!r} is not one of {sorted(DECISIONS)}")
        now = self._tables.clock()
        item = self._tables.update(
            self._tables.jobs_table,
            held_key(channel_id, message_ts, file_id),
            "SET #decision = :decision, #decided_by = :decided_by, #decided_at = :now",
            "attribute_exists(#pk) AND attribute_not_exists(#decision) AND #expires_at > :now",
            decision=decision,
            decided_by=decided_by,
            now=now,
        )
        if item is None:
            return None
        if decision == "released":
            release = {
                **released_key(item["content_key"]),
                "released_at": now,
                "state_key": "released",
                "state_since": now,
                "expires_at": int(now + self._tables.retention),
                **of_install(item.get("workspace", "")),
            }
            self._tables.client.put_item(TableName=self._tables.jobs_table, Item=to_wire(release))
        return _image(item)

    def released_content(self, content_key: str) -> bool:
        item = self._tables.get(self._tables.jobs_table, released_key(content_key))
        return item is not None and is_live(item, self._tables.clock())

    def held_since(
        self,
        since: float,
        *,
        channel_ids: Collection[str] | None = None,
        limit: int = 50,
        workspace: str | None = None,
    ) -> list[HeldImage]:
        """by_state "held", newest first (a Query, never a Scan); the install and channels filtered as the pages
        come."""
        if channel_ids is not None and not channel_ids:
            return []
        workspace = workspace_or_current(workspace)
        now, found = self._tables.clock(), []
        for item in self._tables.query(
            self._tables.jobs_table,
            "#state_key = :state AND #state_since >= :since",
            {"state": "held", "since": since},
            index="by_state",
            forward=False,
        ):
            if workspace != ALL_INSTALLS and item.get("workspace", "") != workspace:
                continue
            if is_live(item, now) and (channel_ids is None or item["channel_id"] in channel_ids):
                found.append(_image(item))
                if len(found) >= limit:
                    break
        return found

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        return drop_message_held(self._tables, channel_id, message_ts)

    def forget_file(self, file_id: str) -> int:
        return drop_file_held(self._tables, file_id)

    def purge(self, older_than: float) -> int:
        table = self._tables.jobs_table
        dropped = 0
        for item in self._stale("held", older_than):
            # Read from the index, which lags: the condition checks the table's item.
            if self._tables.delete(table, item, "#held_at < :older_than", older_than=older_than):
                pointer = file_pointer_key(item["channel_id"], item["message_ts"], item["held_file"])
                self._tables.write_many(table, deletes=[pointer])
                dropped += 1
        for item in self._stale("released", older_than):  # unless released again since
            self._tables.delete(table, item, "#released_at < :older_than", older_than=older_than)
        return dropped

    def _stale(self, state: str, older_than: float) -> list[dict]:
        return list(
            self._tables.query(
                self._tables.jobs_table,
                "#state_key = :state AND #state_since < :older_than",
                {"state": state, "older_than": older_than},
                index="by_state",
            )
        )


# ---- keys, and the helpers deletions.py calls -------------------------------------------------------------------


def held_key(channel_id: str, message_ts: str, file_id: str) -> dict:
    return {"pk": f"held#{channel_id}#{message_ts}", "sk": "file#" + file_id}


def file_pointer_key(channel_id: str, message_ts: str, file_id: str) -> dict:
    return {"pk": "held-file#" + file_id, "sk": f"{channel_id}#{message_ts}"}


def released_key(content_key: str) -> dict:
    return {"pk": "released#" + content_key, "sk": "content"}


def drop_message_held(tables: DynamoTables, channel_id: str, message_ts: str) -> int:
    """The message's held records and their file pointers go (a release of their content stays); returns how many."""
    items = list(tables.query(tables.jobs_table, "#pk = :pk", {"pk": f"held#{channel_id}#{message_ts}"}))
    pointers = [file_pointer_key(channel_id, message_ts, item["held_file"]) for item in items]
    tables.write_many(tables.jobs_table, deletes=items + pointers)
    return len(items)


def drop_file_held(tables: DynamoTables, file_id: str) -> int:
    """The file's held records (in any message) and their pointers go; returns how many."""
    pointers = list(tables.query(tables.jobs_table, "#pk = :pk", {"pk": "held-file#" + file_id}))
    held = [held_key(p["channel_id"], p["message_ts"], file_id) for p in pointers]
    tables.write_many(tables.jobs_table, deletes=pointers + held)
    return len(pointers)


def _image(item: dict) -> HeldImage:
    return HeldImage(
        channel_id=item["channel_id"],
        message_ts=item["message_ts"],
        file_id=item["held_file"],
        user_id=item["user_id"],
        content_key=item["content_key"],
        categories=categories_from_json(item["categories"]),
        held_at=float(item["held_at"]),
        notice_channel=item.get("notice_channel", ""),
        notice_ts=item.get("notice_ts", ""),
        decision=item.get("decision"),
        decided_by=item.get("decided_by", ""),
        decided_at=None if item.get("decided_at") is None else float(item["decided_at"]),
        workspace=item.get("workspace", ""),
    )
