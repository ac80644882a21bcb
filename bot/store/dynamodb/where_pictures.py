"""Show where's pictures on DynamoDB: an item per message in the Jobs table (pk "picture#<channel>#<ts>"), claimed
by one conditional update (it creates the item, or takes over an abandoned claim), expiring with the retention; the
message's finished images are read from its partition (dynamodb/messages.py)."""

from __future__ import annotations

import json

from bot.store.dynamodb import messages
from bot.store.dynamodb.base import DynamoTables
from bot.store.encoding import result_from_dict
from bot.store.protocols import LabelledImage, PictureState


def picture_key(channel_id: str, message_ts: str) -> dict:
    return {"pk": f"picture#{channel_id}#{message_ts}", "sk": "picture"}


class DynamoWherePictures:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def labelled_images(self, channel_id: str, message_ts: str) -> list[LabelledImage]:
        message, jobs = messages.message_and_jobs(self._tables, channel_id, message_ts)
        if message is None or message.get("deleted_at") is not None:
            return []
        return [
            LabelledImage(json.loads(job["file"]), result_from_dict(json.loads(job["result"])))
            for job in jobs
            if job.get("state") == "done" and job.get("result")
        ]

    def claim_picture(self, channel_id: str, message_ts: str, *, stale_before: float) -> tuple[PictureState, str]:
        now = self._tables.clock()
        key = picture_key(channel_id, message_ts)
        claimed = self._tables.update(
            self._tables.jobs_table,
            key,
            "SET #state = :drawing, #claimed_at = :now, #expires_at = :expires_at",
            "attribute_not_exists(#pk) OR (#state = :drawing AND #claimed_at < :stale) OR #expires_at <= :now",
            drawing="drawing",
            now=now,
            stale=stale_before,
            expires_at=int(now + self._tables.retention),
        )
        if claimed is not None:
            return "claimed", ""
        item = self._tables.get(self._tables.jobs_table, key) or {}
        if item.get("state") == "posted":
            return "posted", str(item.get("permalink", ""))
        return "drawing", ""

    def picture_posted(self, channel_id: str, message_ts: str, permalink: str) -> None:
        self._tables.update(
            self._tables.jobs_table,
            picture_key(channel_id, message_ts),
            "SET #state = :posted, #permalink = :permalink",
            "attribute_exists(#pk)",
            posted="posted",
            permalink=permalink,
        )

    def purge_pictures(self, older_than: float) -> int:
        """Nothing to do: each item expires (DynamoDB's TTL) with the retention it was given when claimed."""
        return 0

    def release_picture(self, channel_id: str, message_ts: str) -> None:
        self._tables.delete(
            self._tables.jobs_table, picture_key(channel_id, message_ts), "#state = :drawing", drawing="drawing"
        )
