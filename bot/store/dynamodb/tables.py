"""The DynamoDB store's three tables: keys, indexes and TTL attribute. template.yaml declares the same (a test
compares them), and tests create them from here in a local DynamoDB. Each item kind is written by one concern's
module (named in brackets); a new concern adds its items under a pk prefix of its own, here.

Settings: one item per channel (`channel_id`), and one per user who opted out of labelling (`channel_id` "user#<id>"),
  and with many workspaces one per install ("install#<workspace>") [settings.py]. Index by_install (workspace,
  channel_id): another install's items, for its uninstall [uninstalls.py].

Jobs (`pk`, `sk`), items by kind:
- a message:  pk "msg#<channel>#<ts>", sk "message" [queue.py records it; replies.py and deletions.py change its
  reply state; see messages.py]
- its files:  pk "msg#<channel>#<ts>", sk "file#<file_id>" (one job each, deduped by file as in SQLite; the
  attribute `position` orders them; Job.id is "<pk>|<sk>") [queue.py]
- a cached Rekognition answer: pk "cache#<key>", sk "labels" [label_cache.py]
- another step's cached answer (moderation): pk "cache#<key>", sk "answer#<step>" (the answer as JSON text)
  [answer_cache.py]
- a file deleted in Slack: pk "deleted-file#<file_id>", sk "file" [deletions.py]
- an image held for moderation: pk "held#<channel>#<ts>", sk "file#<file_id>" (no `file_id` attribute: it is in
  no by_file) [moderation.py]
- its file's pointer: pk "held-file#<file_id>", sk "<channel>#<ts>" (a file's held images, for file_deleted)
  [moderation.py]
- content an admin released: pk "released#<content_key>", sk "content" [moderation.py]
- a message's "Show where" picture: pk "picture#<channel>#<ts>", sk "picture" (state drawing|posted, permalink,
  claimed_at; a claim expires with the retention; posted: `uploads`, image file id -> uploaded file id, kept until
  the image is deleted) [where_pictures.py]
- an image's pointer to the pictures made of it: pk "picture-image#<file_id>", sk "<channel>#<ts>" (upload_id)
  [where_pictures.py]
- an uploaded picture file to delete: pk "picture-delete#<upload_id>", sk "upload" (channel_id; state_key
  "picture-delete" until files.delete took it) [where_pictures.py]
- a month's usage: pk "usage#<month>", sk "calls" (total and one counter per Rekognition API), sk
  "channel#<id>" (images by outcome) and sk "translations" (Amazon Translate's calls and characters) [usage.py]
- a label name translated with Amazon Translate: pk "translation#<language>", sk "label#<name>" (`translation`; no
  expires_at: kept for good) [label_translations.py]
  Indexes (sparse: an item is in one only while it carries the index's key attributes):
- by_state (state_key, state_since): jobs "queued"/"running" oldest first; messages "reply-ready"/"reply-posting"/
  "reply-delete"; cached labels "cache", the other steps' cached answers "answer-cache", held images "held" and
  releases "released" (for the purges); picture files to delete "picture-delete"
- by_channel_waiting (waiting_channel, message_ts): a channel's messages whose reply is not settled, in order
- by_finish_day (finished_day "YYYY-MM-DD", finished_at): finished jobs, for the Home tab's last 7 days [summary.py]
- by_file (file_id, pk): a file's jobs, for file_deleted
- by_install (workspace, pk): with many workspaces, every item of an install other than the one workspace's (the
  attribute `workspace`, written with each: bot.store.dynamodb.base.of_install), for its uninstall [uninstalls.py]

Tags (`pk`, `sk`), the /labels find index [tag_index.py]:
- a word of an image: pk "word#<channel>#<stem>", sk "<message_ts>#<file_id>" (newest first = descending sk; the
  ts's seconds zero-padded to 10 digits, as Slack's are, so string order is time order): one per stem of its labels
  and of its text's first 100 distinct words, each listing all the image's stems (a search's filter)
- the image:          pk "image#<channel>", sk "<message_ts>#<file_id>" (lists its stems, so deletes find them; keeps
  its text, on which a search checks its phrases)
- the channel:        pk "channel#<channel>", sk "private#<message_ts>#<file_id>": one per image posted while the
  channel was private (channel_is_public)
- the channel registry: pk "channels", sk "<channel>" (the hourly purge walks it instead of a Scan)
  Index by_file (file_id, sk) on image items.

Every item that should go by itself carries `expires_at` (epoch seconds), the tables' TTL attribute.
"""

from __future__ import annotations

TTL_ATTRIBUTE = "expires_at"


def _keys(hash_key: str, range_key: str | None = None) -> list[dict]:
    keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return keys


def _index(name: str, hash_key: str, range_key: str, projection: str = "ALL") -> dict:
    return {"IndexName": name, "KeySchema": _keys(hash_key, range_key), "Projection": {"ProjectionType": projection}}


# Logical name (the template's resource and the config variable's stem) -> CreateTable arguments minus TableName.
TABLES: dict[str, dict] = {
    "Settings": {
        "KeySchema": _keys("channel_id"),
        "AttributeDefinitions": [
            {"AttributeName": "channel_id", "AttributeType": "S"},
            {"AttributeName": "workspace", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [_index("by_install", "workspace", "channel_id", "KEYS_ONLY")],
        "ttl": False,
    },
    "Jobs": {
        "KeySchema": _keys("pk", "sk"),
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in (
                ("pk", "S"),
                ("sk", "S"),
                ("state_key", "S"),
                ("state_since", "N"),
                ("waiting_channel", "S"),
                ("message_ts", "S"),
                ("finished_day", "S"),
                ("finished_at", "N"),
                ("file_id", "S"),
                ("workspace", "S"),
            )
        ],
        "GlobalSecondaryIndexes": [
            _index("by_state", "state_key", "state_since"),
            _index("by_channel_waiting", "waiting_channel", "message_ts", "KEYS_ONLY"),
            _index("by_finish_day", "finished_day", "finished_at"),
            _index("by_file", "file_id", "pk", "KEYS_ONLY"),
            _index("by_install", "workspace", "pk", "KEYS_ONLY"),
        ],
        "ttl": True,
    },
    "Tags": {
        "KeySchema": _keys("pk", "sk"),
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "file_id", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [_index("by_file", "file_id", "sk", "KEYS_ONLY")],
        "ttl": True,
    },
}


def create_tables(client, names: dict[str, str]) -> None:
    """Create the tables (on-demand, TTL on) under names {"Settings": ..., "Jobs": ..., "Tags": ...}: for tests and
    local development; on AWS the template creates them."""
    for logical, definition in TABLES.items():
        spec = {key: value for key, value in definition.items() if key != "ttl"}
        client.create_table(TableName=names[logical], BillingMode="PAY_PER_REQUEST", **spec)
        if definition["ttl"]:
            client.update_time_to_live(
                TableName=names[logical], TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )
