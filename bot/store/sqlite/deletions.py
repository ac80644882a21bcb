"""Deletions in Slack on SQLite: one transaction drops what every concern holds of the message or file (the tag
index's rows, the queue's jobs, the held images of moderation.py, though a release of their content stays), queues
the Show where pictures made of it for deletion (where_pictures.py), and marks the message deleted for the replies,
composing those modules' helpers."""

from __future__ import annotations

from bot.store.sqlite import messages, moderation, tag_index, where_pictures
from bot.store.sqlite.database import SqliteDatabase


class SqliteDeletions:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        with self._database.transaction() as db:
            dropped = tag_index.drop_message_images(db, channel_id, message_ts)
            # Its jobs hold labels and file names: they go too.
            messages.delete_message_jobs(db, channel_id, message_ts)
            moderation.drop_message_held(db, channel_id, message_ts)
            messages.mark_message_deleted(db, channel_id, message_ts, self._database.clock())
            where_pictures.queue_message_uploads(db, channel_id, message_ts, self._database.clock())
        return dropped

    def forget_file(self, file_id: str) -> int:
        with self._database.transaction() as db:
            dropped = tag_index.drop_file_images(db, file_id)
            messages.note_file_deleted(db, file_id, self._database.clock())
            moderation.drop_file_held(db, file_id)
            where_pictures.queue_file_uploads(db, file_id, self._database.clock())
            for channel_id, message_ts in messages.delete_file_jobs(db, file_id):
                if not messages.images_left(db, channel_id, message_ts):
                    # The reply was about nothing that is left: it goes too.
                    messages.mark_message_deleted(db, channel_id, message_ts, self._database.clock())
                    where_pictures.queue_message_uploads(db, channel_id, message_ts, self._database.clock())
        return dropped
