"""An uninstall on SQLite: every record labelbot keeps for the install, deleted in one transaction (many workspaces:
bot.listeners.installs). What identifies them: the install's key in a column (messages, held images, releases, the
caches, its own settings), or in the keys in_workspace made ("<workspace>/<id>": channel and user settings, the
search index, usage months); a message's jobs go with the message."""

from __future__ import annotations

from bot.store.encoding import in_workspace
from bot.store.sqlite import tag_index
from bot.store.sqlite.database import SqliteDatabase

# (what, the DELETE) for each concern; ? is the install's key, or (LIKE) the prefix of its keys
_BY_MESSAGE = "(channel_id, message_ts) IN (SELECT channel_id, message_ts FROM messages WHERE workspace=?)"
DELETES = (
    ("Show where pictures", "DELETE FROM where_pictures WHERE workspace=?", "key"),
    ("Show where uploads", "DELETE FROM where_picture_uploads WHERE workspace=?", "key"),
    ("Show where uploads", "DELETE FROM where_picture_deletions WHERE workspace=?", "key"),
    ("jobs", f"DELETE FROM jobs WHERE {_BY_MESSAGE}", "key"),
    ("messages", "DELETE FROM messages WHERE workspace=?", "key"),
    ("held images", "DELETE FROM held_images WHERE workspace=?", "key"),
    ("released images", "DELETE FROM released_content WHERE workspace=?", "key"),
    ("cached labels", "DELETE FROM label_cache WHERE workspace=?", "key"),
    ("cached answers", "DELETE FROM answer_cache WHERE workspace=?", "key"),
    ("channel settings", "DELETE FROM channel_settings WHERE channel_id LIKE ?", "prefix"),
    ("user settings", "DELETE FROM user_settings WHERE user_id LIKE ?", "prefix"),
    ("install settings", "DELETE FROM install_settings WHERE workspace=?", "key"),
    ("usage", "DELETE FROM usage_calls WHERE month LIKE ?", "prefix"),
    ("usage", "DELETE FROM usage_images WHERE month LIKE ?", "prefix"),
    ("usage", "DELETE FROM usage_translations WHERE month LIKE ?", "prefix"),
    ("usage", "DELETE FROM usage_notices WHERE month LIKE ?", "prefix"),
)


class SqliteUninstalls:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def forget_install(self, workspace: str) -> dict[str, int]:
        if not workspace:
            raise ValueError("the one workspace's records are never deleted as an install's")
        prefix = in_workspace(workspace, "%")  # "<workspace>/%": Slack's IDs and months have no % or _ to escape
        counts: dict[str, int] = {}
        with self._database.transaction() as db:
            ids = [row["id"] for row in db.execute("SELECT id FROM tagged_images WHERE channel_id LIKE ?", (prefix,))]
            tag_index.drop_index_rows(db, ids)
            counts["search index"] = len(ids)
            for what, delete, argument in DELETES:
                deleted = db.execute(delete, (workspace if argument == "key" else prefix,)).rowcount
                counts[what] = counts.get(what, 0) + deleted
        return counts
