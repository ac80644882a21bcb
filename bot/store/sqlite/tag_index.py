"""The tag index on SQLite: one row per labelled image and an FTS5 table of its words: its labels' and its text's
(the first MAX_INDEXED_WORDS distinct words, bot.screen_text.indexed_text). Whether a message or file was deleted
meanwhile is read from sqlite/messages.py's records in the same transaction as the write."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from bot.index_terms import index_string, search_terms
from bot.install_context import workspace_or_current
from bot.render import Label
from bot.screen_text import text_for_index
from bot.store.encoding import (
    TAG_TOKENIZER,
    in_workspace,
    label_from_dict,
    label_names,
    label_to_dict,
    ts_microseconds,
    workspace_id,
)
from bot.store.protocols import IndexedImage
from bot.store.sqlite import messages
from bot.store.sqlite.database import SqliteDatabase

# Full text, rowid = tagged_images.id: every label's name, parents and aliases (porter stems, so "cats" finds Cat),
# the channel id, so one MATCH does word + channel and walks the rowids newest first, and the indexed text.
TAG_WORDS = f"""CREATE VIRTUAL TABLE IF NOT EXISTS tag_words USING fts5(
    labels, channel, text, tokenize = '{TAG_TOKENIZER}'
)"""
TAG_WORDS_COLUMNS = ("labels", "channel", "text")

SCHEMA = f"""
-- The tag index (/labels find): one row per labelled image. id orders rows by when the message was posted (its
-- ts in microseconds * 1000 + a slot for the message's other files), so newest-first needs no sort and `since`
-- and the retention purge are id ranges.
CREATE TABLE IF NOT EXISTS tagged_images (
    id INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL,
    channel_type TEXT NOT NULL,     -- channel (public) | group (private) | im | mpim | '' (unknown: find asks Slack)
    message_ts TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    file_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    posted_at REAL NOT NULL,        -- the message ts as a number
    labels_json TEXT NOT NULL,      -- [{{name, confidence, parents, aliases}}], most confident first
    text TEXT NOT NULL DEFAULT '',  -- the text read in it, secrets [hidden], whole (tag_words has its indexed prefix)
    UNIQUE (channel_id, message_ts, file_id)
);
CREATE INDEX IF NOT EXISTS tagged_images_by_file ON tagged_images (file_id);
CREATE INDEX IF NOT EXISTS tagged_images_by_channel_type ON tagged_images (channel_id, channel_type);
{TAG_WORDS};
"""

COLUMNS_ADDED = {"tagged_images": (("text", "TEXT NOT NULL DEFAULT ''"),)}


# How tag_words holds its terms (bot.index_terms), kept in a one-row table: 2 since Japanese is indexed in pairs.
INDEX_FORMAT = 2


def upgrade(db: sqlite3.Connection) -> None:
    """In a transaction, at start-up: tag_words made before the text was indexed (no text column: FTS5 can't ALTER
    a table), or before Japanese was indexed in pairs, is made again from tagged_images, once."""
    columns = tuple(row["name"] for row in db.execute("PRAGMA table_info(tag_words)"))
    db.execute("CREATE TABLE IF NOT EXISTS tag_words_format (format INTEGER NOT NULL)")
    (written,) = db.execute("SELECT COALESCE(MAX(format), 1) FROM tag_words_format").fetchone()
    if columns == TAG_WORDS_COLUMNS and written == INDEX_FORMAT:
        return
    db.execute("DELETE FROM tag_words_format")
    db.execute("INSERT INTO tag_words_format (format) VALUES (?)", (INDEX_FORMAT,))
    db.execute("DROP TABLE IF EXISTS tag_words")
    db.execute(TAG_WORDS)
    for row in db.execute("SELECT id, channel_id, labels_json, text FROM tagged_images").fetchall():
        labels = [label_from_dict(x) for x in json.loads(row["labels_json"])]
        _insert_words(db, row["id"], labels, row["channel_id"], row["text"])


ID_SLOTS = 1000  # tagged_images ids per microsecond of message ts: a message's files (and a same-µs twin)


class SqliteTagIndex:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def index_images(self, images: list[IndexedImage], *, workspace: str | None = None) -> int:
        added = 0
        with self._database.transaction() as db:
            for posted in images:
                if messages.was_deleted(db, posted.channel_id, posted.message_ts, posted.file_id):
                    continue  # the message or the file was deleted while it was being labelled
                image = replace(posted, channel_id=in_workspace(workspace, posted.channel_id))
                key = (image.channel_id, image.message_ts)
                row = db.execute(
                    "SELECT id FROM tagged_images WHERE channel_id=? AND message_ts=? AND file_id=?",
                    (*key, image.file_id),
                ).fetchone()
                if row is None:
                    image_id = _free_index_id(db, image.message_ts)
                else:
                    image_id = row["id"]
                    db.execute("DELETE FROM tag_words WHERE rowid=?", (image_id,))
                labels = sorted(image.labels, key=lambda label: label.confidence, reverse=True)
                db.execute(
                    "INSERT OR REPLACE INTO tagged_images (id, channel_id, channel_type, message_ts, thread_ts,"
                    " file_id, user_id, posted_at, labels_json, text) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        image_id,
                        image.channel_id,
                        image.channel_type,
                        image.message_ts,
                        image.thread_ts,
                        image.file_id,
                        image.user_id,
                        image.posted_at,
                        json.dumps([label_to_dict(label) for label in labels]),
                        image.text,
                    ),
                )
                _insert_words(db, image_id, labels, image.channel_id, image.text)
                added += 1
        return added

    def search_images(
        self,
        words: tuple[str, ...],
        *,
        channel_id: str | None,
        since: float | None = None,
        limit: int = 10,
        phrases: tuple[tuple[str, ...], ...] = (),
        workspace: str | None = None,
    ) -> list[IndexedImage]:
        words = tuple(word for word in words if search_terms(word))
        phrases = tuple(phrase for phrase in phrases if any(search_terms(word) for word in phrase))
        if not words and not phrases:
            return []
        # A word in the labels or the text (a Japanese word of more than two characters: the phrase of its pairs, see
        # bot.index_terms); a phrase (FTS5 phrase: its words' terms adjacent, in order) in the text.
        each = " AND ".join(_fts_string(" ".join(search_terms(word))) for word in words)
        terms = [f"{{labels text}} : ({each})"] if words else []
        terms += [f"text : {_fts_string(' '.join(t for w in phrase for t in search_terms(w)))}" for phrase in phrases]
        query = " AND ".join(terms)
        lowest = 0 if since is None else int(since * 1_000_000) * ID_SLOTS
        workspace = workspace_or_current(workspace)
        # Every channel of the install: its keys' range ("<workspace>/" up to "<workspace>0"), or the one
        # workspace's keys, which have no "/"
        same_channel, channel_params = (
            (" AND +t.channel_id > ? AND +t.channel_id < ?", (workspace + "/", workspace + "0"))
            if workspace
            else (" AND instr(t.channel_id, '/') = 0", ())
        )
        if channel_id is not None:
            channel_id = in_workspace(workspace, channel_id)
            # The channel term narrows the full-text walk, but the stemmer can fold two ids into one term
            # (C0ABCDEY and C0ABCDEI both become c0abcdei), so the row's own channel decides. (`+`: no index on
            # it, so the walk stays newest first over the full-text matches.)
            query += " AND channel : " + _fts_string(channel_id)
            same_channel, channel_params = " AND +t.channel_id = ?", (channel_id,)
        params = (query, lowest, *channel_params)
        with self._database.reading() as db:
            rows = db.execute(
                # highlight() marks the label names the words matched, with the index's own stemming.
                "SELECT t.*, highlight(tag_words, 0, char(1), char(2)) AS marked"
                " FROM tag_words JOIN tagged_images t ON t.id = tag_words.rowid"
                f" WHERE tag_words MATCH ? AND tag_words.rowid >= ?{same_channel}"
                " ORDER BY tag_words.rowid DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_found(r) for r in rows]

    def channel_is_public(self, channel_id: str, *, workspace: str | None = None) -> bool:
        channel_id = in_workspace(workspace, channel_id)
        with self._database.reading() as db:
            (public,) = db.execute(
                # An index range, not a scan of the channel's rows: group, im and mpim sort after 'channel'; ''
                # (Slack didn't say) before it, and is settled by the caller's live check.
                "SELECT EXISTS (SELECT 1 FROM tagged_images WHERE channel_id=?)"
                " AND NOT EXISTS (SELECT 1 FROM tagged_images WHERE channel_id=? AND channel_type > 'channel')",
                (channel_id, channel_id),
            ).fetchone()
        return bool(public)

    def purge_index(self, older_than: float, *, batch: int = 1000) -> int:
        """In batches, so the listener's writes never wait long behind a big first purge."""
        below = int(older_than * 1_000_000) * ID_SLOTS
        purged = 0
        while True:
            with self._database.transaction() as db:
                rows = db.execute("SELECT id FROM tagged_images WHERE id < ? LIMIT ?", (below, batch)).fetchall()
                ids = [r["id"] for r in rows]
                drop_index_rows(db, ids)
            purged += len(ids)
            if len(ids) < batch:
                with self._database.transaction() as db:
                    messages.forget_deleted_files(db, older_than)
                return purged


def _found(row: sqlite3.Row) -> IndexedImage:
    labels = tuple(label_from_dict(x) for x in json.loads(row["labels_json"]))
    return IndexedImage(
        channel_id=workspace_id(row["channel_id"]),
        channel_type=row["channel_type"],
        message_ts=row["message_ts"],
        thread_ts=row["thread_ts"],
        file_id=row["file_id"],
        user_id=row["user_id"],
        labels=labels,
        text=row["text"],
        matched=_marked_names(row["marked"], label_names(labels)),
    )


def drop_message_images(db: sqlite3.Connection, channel_id: str, message_ts: str) -> int:
    """In the caller's transaction: drop the message's images from the index (the current install's); returns how
    many."""
    key = (in_workspace(None, channel_id), message_ts)
    ids = [r["id"] for r in db.execute("SELECT id FROM tagged_images WHERE channel_id=? AND message_ts=?", key)]
    drop_index_rows(db, ids)
    return len(ids)


def drop_file_images(db: sqlite3.Connection, file_id: str) -> int:
    """In the caller's transaction: drop the file's images (in every message it was shared in); returns how many."""
    ids = [r["id"] for r in db.execute("SELECT id FROM tagged_images WHERE file_id=?", (file_id,))]
    drop_index_rows(db, ids)
    return len(ids)


def _free_index_id(db: sqlite3.Connection, message_ts: str) -> int:
    first = ts_microseconds(message_ts) * ID_SLOTS
    (highest,) = db.execute(
        "SELECT MAX(id) FROM tagged_images WHERE id BETWEEN ? AND ?", (first, first + ID_SLOTS - 1)
    ).fetchone()
    if highest is None:
        return first
    if highest + 1 >= first + ID_SLOTS:
        raise ValueError(f"more than {ID_SLOTS} images indexed for message ts {message_ts}")
    return highest + 1


def drop_index_rows(db: sqlite3.Connection, ids: list[int]) -> None:
    db.executemany("DELETE FROM tag_words WHERE rowid=?", [(i,) for i in ids])
    db.executemany("DELETE FROM tagged_images WHERE id=?", [(i,) for i in ids])


def _insert_words(db: sqlite3.Connection, image_id: int, labels, channel_id: str, text: str) -> None:
    db.execute(
        "INSERT INTO tag_words (rowid, labels, channel, text) VALUES (?,?,?,?)",
        (image_id, _label_words(labels), channel_id, text_for_index(text)),
    )


def _label_words(labels: list[Label] | tuple[Label, ...]) -> str:
    """What the full-text index knows of an image: one name's terms a line (bot.index_terms; see _marked_names)."""
    return "\n".join(index_string(name) for name in label_names(labels))


def _marked_names(marked: str | None, names: tuple[str, ...]) -> frozenset[str]:
    """The names whose lines of the labels column highlight() marked a matched term in."""
    lines = (marked or "").split("\n")
    return frozenset(name for name, line in zip(names, lines, strict=False) if "\x01" in line)


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
