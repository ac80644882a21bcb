"""Show where's pictures on DynamoDB: an item per message in the Jobs table (pk "picture#<channel>#<ts>"), claimed
by one conditional update (it creates the item, or takes over an abandoned claim); a claim never posted expires with
the retention, a posted picture's item stays, holding the file uploaded for each image (`uploads`), with a pointer
per image (pk "picture-image#<file_id>") for file_deleted. A deleted image's uploads become items of the deletion
queue (pk "picture-delete#<upload_id>", state_key "picture-delete" in by_state) that the sweep works through. The
message's finished images are read from its partition (dynamodb/messages.py)."""

from __future__ import annotations

import json

from bot.store.dynamodb import messages
from bot.store.dynamodb.base import DynamoTables, install_set, of_install
from bot.store.encoding import result_from_dict
from bot.store.protocols import LabelledImage, PictureFile, PictureState

TO_DELETE = "picture-delete"  # the deletion queue's state_key


def picture_key(channel_id: str, message_ts: str) -> dict:
    return {"pk": f"picture#{channel_id}#{message_ts}", "sk": "picture"}


def image_pointer_key(image_file_id: str, channel_id: str, message_ts: str) -> dict:
    return {"pk": f"picture-image#{image_file_id}", "sk": f"{channel_id}#{message_ts}"}


def deletion_key(upload_id: str) -> dict:
    return {"pk": f"picture-delete#{upload_id}", "sk": "upload"}


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
        also, install = install_set()
        claimed = self._tables.update(
            self._tables.jobs_table,
            key,
            "SET #state = :drawing, #claimed_at = :now, #expires_at = :expires_at" + also,
            "attribute_not_exists(#pk) OR (#state = :drawing AND #claimed_at < :stale) OR #expires_at <= :now",
            **install,
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

    def picture_posted(self, channel_id: str, message_ts: str, permalink: str, uploads: dict[str, str]) -> None:
        tables = self._tables
        tables.update(
            tables.jobs_table,
            picture_key(channel_id, message_ts),
            "SET #state = :posted, #permalink = :permalink, #uploads = :uploads REMOVE #expires_at",
            "attribute_exists(#pk)",
            posted="posted",
            permalink=permalink,
            uploads=dict(uploads),
        )
        pointers = [
            {
                **image_pointer_key(image, channel_id, message_ts),
                "upload_id": upload,
                "channel_id": channel_id,
                **of_install(),
            }
            for image, upload in uploads.items()
        ]
        tables.write_many(tables.jobs_table, puts=pointers)
        # An image deleted (or its message) while the picture was being made (deletions.py marks first): its upload
        # goes at once.
        gone = [image for image in uploads if messages.was_deleted(tables, channel_id, message_ts, image)]
        _queue(tables, [(uploads[image], channel_id) for image in gone])
        pointers_gone = [image_pointer_key(image, channel_id, message_ts) for image in gone]
        tables.write_many(tables.jobs_table, deletes=pointers_gone)

    def picture_files_to_delete(self) -> list[PictureFile]:
        queued = self._tables.query(
            self._tables.jobs_table, "#state_key = :queued", {"queued": TO_DELETE}, index="by_state", consistent=False
        )
        return [PictureFile(item["upload_id"], item["channel_id"], item.get("workspace", "")) for item in queued]

    def picture_file_deleted(self, file_id: str) -> None:
        self._tables.write_many(self._tables.jobs_table, deletes=[deletion_key(file_id)])

    def purge_pictures(self, older_than: float) -> int:
        """Nothing to do: a claim never posted expires (DynamoDB's TTL) with the retention it was given."""
        return 0

    def release_picture(self, channel_id: str, message_ts: str) -> None:
        self._tables.delete(
            self._tables.jobs_table, picture_key(channel_id, message_ts), "#state = :drawing", drawing="drawing"
        )


def _queue(tables: DynamoTables, uploads: list[tuple[str, str]]) -> None:
    """(upload id, channel) pairs into the deletion queue."""
    now = tables.clock()
    items = [
        {
            **deletion_key(upload),
            "upload_id": upload,
            "channel_id": channel,
            "state_key": TO_DELETE,
            "state_since": now,
            **of_install(),  # whose token deletes it (PictureFile.workspace)
        }
        for upload, channel in uploads
    ]
    tables.write_many(tables.jobs_table, puts=items)


def queue_message_uploads(tables: DynamoTables, channel_id: str, message_ts: str) -> None:
    """The message was deleted: every file uploaded for its images is queued for deletion, and its picture forgotten
    (a press now finds nothing to show)."""
    key = picture_key(channel_id, message_ts)
    picture = tables.get(tables.jobs_table, key)
    if picture is None:
        return
    uploads = dict(picture.get("uploads") or {})
    _queue(tables, [(upload, channel_id) for upload in uploads.values()])
    pointers = [image_pointer_key(image, channel_id, message_ts) for image in uploads]
    tables.write_many(tables.jobs_table, deletes=[*pointers, key])


def queue_file_uploads(tables: DynamoTables, image_file_id: str) -> None:
    """The image's file was deleted: the files uploaded for it are queued for deletion; its messages' pictures keep
    their other images' uploads (the permalink, maybe to a deleted file, is cleared)."""
    pointers = list(tables.query(tables.jobs_table, "#pk = :pk", {"pk": f"picture-image#{image_file_id}"}))
    if not pointers:
        return
    _queue(tables, [(pointer["upload_id"], pointer["channel_id"]) for pointer in pointers])
    for pointer in pointers:
        channel_id, message_ts = pointer["sk"].split("#", 1)
        tables.update(
            tables.jobs_table,
            picture_key(channel_id, message_ts),
            f"SET #permalink = :empty REMOVE #uploads.#{image_file_id}",
            "attribute_exists(#pk)",
            empty="",
        )
    tables.write_many(tables.jobs_table, deletes=pointers)
