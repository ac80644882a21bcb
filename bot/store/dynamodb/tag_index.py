"""The tag index on DynamoDB: the Tags table (see dynamodb/tables.py).

An image's stems are those of its labels, parents and aliases and of its text's indexed prefix (its first
MAX_INDEXED_WORDS distinct words, bot.screen_text.indexed_text; [hidden] is no stem); each stem has a word entry.
/labels find queries one partition "word#<channel>#<stem>" newest first, `since` a sort-key condition, the search's
other stems a filter on the entry's stem set, paged until the limit; then the images' items (BatchGetItem), on which
each phrase is checked against the item's text (its stems adjacent and in order, as SQLite's FTS5 phrase queries
match); a search of every channel reads the channel registry (pk "channels") and merges. Never a Scan.

Which partition: with one stem, its own; with several (the words' and the phrases' words'), the rarest in the
channel, found by one Select=COUNT Query per stem with Limit COUNT_LIMIT (each reads at most COUNT_LIMIT entries,
~1-2 KB each as they carry the stem set: a few read units per stem of the search; a count of 0 ends the channel's
search there).

Whether the message or file was deleted is read from the Jobs table (dynamodb/messages.py) after writing, so a
deletion in between either sees the entries or is seen; deletions and the retention purge drop the entries the
item's stem set lists, text stems with label stems. Limits: a search whose stems are all common pages through the
rarest one's entries (the filter runs after the read), and a phrase whose words are common but rarely adjacent reads
items that fail the check; an image costs one write per distinct stem, now bounded by ~100 (its text) + ~10-30 (its
labels), each entry ~1-2 KB (1-2 write units), plus its item (which keeps the whole text); the registry keeps a
channel forever (one small item). Files of one message are listed by file id where SQLite lists them in the order
they were indexed."""

from __future__ import annotations

import heapq
import itertools
import json
import time
from collections.abc import Iterable, Iterator

from bot.index_terms import index_string
from bot.screen_text import INDEX_GAP, text_for_index
from bot.store.dynamodb import messages
from bot.store.dynamodb.base import DynamoTables, batched, is_live
from bot.store.dynamodb.wire import to_wire
from bot.store.encoding import in_workspace, label_from_dict, label_names, label_to_dict, of_workspace, ts_microseconds
from bot.store.protocols import IndexedImage
from bot.store.stemmer import index_stems, search_stems

SEARCH_PAGE = 100  # word entries read per request of a search
COUNT_LIMIT = 25  # entries a search's count of one stem reads at most, choosing the rarest stem's partition


REGISTRY_KEPT_SECONDS = 600.0  # how long a process trusts that a channel it registered is still in the registry


class DynamoTagIndex:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables
        # Channels this process registered, and when: written again after REGISTRY_KEPT_SECONDS, so a channel an
        # uninstall (in another process) took out of the registry is back in it soon after a reinstall
        self._registered_channels: dict[str, float] = {}

    def index_images(self, images: list[IndexedImage], *, workspace: str | None = None) -> int:
        return sum(self._index_image(image, in_workspace(workspace, image.channel_id)) for image in images)

    def _index_image(self, image: IndexedImage, channel_key: str) -> bool:
        """Write the image's item and one entry per stem; False (and nothing left) when the message or the file was
        deleted meanwhile. Checked after writing: a deletion in between either sees the entries or is seen."""
        labels = sorted(image.labels, key=lambda label: label.confidence, reverse=True)
        label_stems = {stem for name in label_names(labels) for stem in name_terms(name)}
        stems = sorted(label_stems.union(text_stems(image.text)))
        sk = index_sort_key(image.message_ts, image.file_id)
        expires_at = int(image.posted_at + self._tables.retention)
        item = {
            "pk": "image#" + channel_key,  # the install's channel (bot.store.encoding.in_workspace)
            "sk": sk,
            "file_id": image.file_id,  # by_file
            "channel_id": image.channel_id,
            "channel_type": image.channel_type,
            "message_ts": image.message_ts,
            "thread_ts": image.thread_ts,
            "user_id": image.user_id,
            "labels": json.dumps([label_to_dict(label) for label in labels]),
            "stems": stems,
            "expires_at": expires_at,
            **({"text": image.text} if image.text else {}),
        }
        self._register_channel(channel_key)
        puts = [item, *({**key, "stems": stems, "expires_at": expires_at} for key in word_keys(item))]
        private = posted_while_private(image.channel_type)
        if private:
            puts.append({**private_marker(item), "expires_at": expires_at})
        previous = self._tables.get(self._tables.tags_table, item)  # indexed before: what it had and has no more goes
        kept = {key["pk"] for key in word_keys(item)}
        stale = [] if previous is None else [key for key in word_keys(previous) if key["pk"] not in kept]
        if previous is not None and not private:
            stale.append(private_marker(previous))
        self._tables.write_many(self._tables.tags_table, puts=puts, deletes=stale)
        if messages.was_deleted(self._tables, image.channel_id, image.message_ts, image.file_id):
            drop_images(self._tables, [item])
            return False
        return True

    def _register_channel(self, channel_id: str) -> None:
        """The registry the purge walks and a search of every channel reads (instead of a Scan)."""
        now = time.monotonic()
        if now - self._registered_channels.get(channel_id, -REGISTRY_KEPT_SECONDS) >= REGISTRY_KEPT_SECONDS:
            self._tables.client.put_item(
                TableName=self._tables.tags_table, Item=to_wire({"pk": "channels", "sk": channel_id})
            )
            self._registered_channels[channel_id] = now

    def _channels(self) -> list[str]:
        return [item["sk"] for item in self._tables.query(self._tables.tags_table, "#pk = :pk", {"pk": "channels"})]

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
        # A word is one stem, or (a Japanese word of more than two characters, see bot.index_terms) the run of its
        # pairs, adjacent in a label's name or in the text; a phrase, its words' terms adjacent in the text.
        stems = [search_stems(word) for word in words]
        phrase_stems = [tuple(itertools.chain.from_iterable(search_stems(w) for w in phrase)) for phrase in phrases]
        phrase_stems = [phrase for phrase in phrase_stems if phrase]
        if not (words or phrase_stems) or not all(stems):
            return []
        word_stems = [stem[0] for stem in stems if len(stem) == 1]
        word_runs = [stem for stem in stems if len(stem) > 1]
        wanted = list(dict.fromkeys(itertools.chain(word_stems, *word_runs, *phrase_stems)))
        channels = (
            [in_workspace(workspace, channel_id)]
            if channel_id is not None
            else [key for key in self._channels() if of_workspace(workspace, key)]
        )
        # Newest first across channels: each channel's entries come newest first, so merging them is enough.
        entries = heapq.merge(
            *(self._matching_entries(c, wanted, since) for c in channels),
            key=lambda entry: entry["sk"],
            reverse=True,
        )
        found: list[IndexedImage] = []
        now = self._tables.clock()
        for chunk in batched(entries, limit):
            keys = [{"pk": "image#" + entry["pk"].split("#")[1], "sk": entry["sk"]} for entry in chunk]
            images = {
                (i["pk"], i["sk"]): i for i in self._tables.get_many(self._tables.tags_table, keys) if is_live(i, now)
            }
            for key in keys:
                item = images.get((key["pk"], key["sk"]))
                if item is None or not all(has_phrase(item_text_stems(item), phrase) for phrase in phrase_stems):
                    continue
                if not all(_has_run(item, run) for run in word_runs):
                    continue
                found.append(indexed_image(item, frozenset(word_stems), word_runs))
                if len(found) == limit:
                    return found
        return found

    def _matching_entries(self, channel_id: str, stems: list[str], since: float | None) -> Iterator[dict]:
        """The rarest stem's entries in the channel, newest first, that have every other stem too."""
        lowest = None if since is None else index_sort_key_at(since)
        first = self._rarest(channel_id, stems, lowest)
        if first is None:
            return
        others = [stem for stem in stems if stem != first]
        key = "#pk = :pk" + ("" if lowest is None else " AND #sk >= :lowest")
        values = {"pk": f"word#{channel_id}#{first}", "now": self._tables.clock(), "lowest": lowest}
        values.update({f"stem{n}": stem for n, stem in enumerate(others, 1)})
        where = [f"contains(#stems, :stem{n})" for n in range(1, len(others) + 1)]
        yield from self._tables.query(
            self._tables.tags_table,
            key,
            values,
            forward=False,
            page=SEARCH_PAGE,
            where=" AND ".join(["#expires_at > :now", *where]),
            consistent=False,
        )

    def _rarest(self, channel_id: str, stems: list[str], lowest: str | None) -> str | None:
        """The stem with the fewest entries in the channel (counted up to COUNT_LIMIT; the first of equals), or None
        when one has none (then nothing matches here). One stem: itself, uncounted."""
        if len(stems) == 1:
            return stems[0]
        key = "#pk = :pk" + ("" if lowest is None else " AND #sk >= :lowest")
        counts = {}
        for stem in stems:
            values = {"pk": f"word#{channel_id}#{stem}", "lowest": lowest}
            counts[stem] = self._tables.count(self._tables.tags_table, key, values, limit=COUNT_LIMIT)
            if counts[stem] == 0:
                return None
        return min(stems, key=counts.__getitem__)

    def channel_is_public(self, channel_id: str, *, workspace: str | None = None) -> bool:
        channel_id = in_workspace(workspace, channel_id)
        now = self._tables.clock()
        live = "#expires_at > :now"
        has_images = self._tables.query(
            self._tables.tags_table,
            "#pk = :pk",
            {"pk": "image#" + channel_id, "now": now},
            forward=False,
            where=live,
            page=10,
        )
        if next(has_images, None) is None:
            return False
        private = self._tables.query(
            self._tables.tags_table,
            "#pk = :pk AND begins_with(#sk, :private)",
            {"pk": "channel#" + channel_id, "private": "private#", "now": now},
            forward=False,
            where=live,
            page=10,
        )
        return next(private, None) is None

    def forget_install(self, workspace: str) -> int:
        """An uninstall: the install's images (each of its channels in the registry) and its registry entries."""
        dropped = 0
        for channel_key in [key for key in self._channels() if of_workspace(workspace, key)]:
            images = list(self._tables.query(self._tables.tags_table, "#pk = :pk", {"pk": "image#" + channel_key}))
            drop_images(self._tables, images)
            self._tables.write_many(self._tables.tags_table, deletes=[{"pk": "channels", "sk": channel_key}])
            self._registered_channels.pop(channel_key, None)
            dropped += len(images)
        return dropped

    def purge_index(self, older_than: float, *, batch: int = 1000) -> int:
        """Each channel's images posted before older_than (their entries with them). Deleted files' markers go by
        TTL."""
        purged = 0
        for channel_id in self._channels():
            old = self._tables.query(
                self._tables.tags_table,
                "#pk = :pk AND #sk < :below",
                {"pk": "image#" + channel_id, "below": index_sort_key_at(older_than)},
                page=batch,
            )
            for images in batched(old, batch):
                drop_images(self._tables, images)
                purged += len(images)
        return purged


def drop_images(tables: DynamoTables, images: Iterable[dict]) -> None:
    """Delete index items with their word entries and private markers."""
    keys = [key for image in images for key in (image, *index_entries(image))]
    tables.write_many(tables.tags_table, deletes=keys)


def message_images(tables: DynamoTables, channel_id: str, message_ts: str) -> list[dict]:
    """The message's index items (the current install's)."""
    channel_id = in_workspace(None, channel_id)
    prefix = index_sort_key(message_ts, "")
    return [
        item
        for item in tables.query(
            tables.tags_table,
            "#pk = :pk AND begins_with(#sk, :prefix)",
            {"pk": "image#" + channel_id, "prefix": prefix},
        )
        if item["message_ts"] == message_ts
    ]


def file_images(tables: DynamoTables, file_id: str, jobs: list[dict]) -> list[dict]:
    """The file's index items: by_file's, and (read from the table, as the index lags) those of its jobs' messages."""
    keys = {
        (k["pk"], k["sk"])
        for k in tables.query(tables.tags_table, "#file_id = :file_id", {"file_id": file_id}, index="by_file")
    }
    keys |= {
        (
            "image#" + in_workspace(job.get("workspace", ""), job["channel_id"]),
            index_sort_key(job["message_ts"], file_id),
        )
        for job in jobs
    }
    return tables.get_many(tables.tags_table, [{"pk": pk, "sk": sk} for pk, sk in keys])


# ---- keys and items ----------------------------------------------------------------------------------------------


def index_sort_key(message_ts: str, file_id: str) -> str:
    """An index entry's sort key: the message ts with its seconds zero-padded (string order is time order), then
    the file."""
    return f"{format_micro(ts_microseconds(message_ts))}#{file_id}"


def index_sort_key_at(seconds: float) -> str:
    """The sort key every entry of a message posted at or after `seconds` is at or above."""
    return format_micro(int(seconds * 1_000_000))


def format_micro(micro: int) -> str:
    return f"{micro // 1_000_000:010d}.{micro % 1_000_000:06d}"


def word_keys(image: dict) -> list[dict]:
    """The keys of an index item's word entries: one per stem."""
    channel_id = image["pk"].split("#", 1)[1]
    return [{"pk": f"word#{channel_id}#{stem}", "sk": image["sk"]} for stem in image.get("stems", ())]


def index_entries(image: dict) -> list[dict]:
    """The keys of everything an index item brings: its word entries and private marker (which may not exist)."""
    return [*word_keys(image), private_marker(image)]


def private_marker(image: dict) -> dict:
    """The channel's note that this image was posted while it was private (see channel_is_public)."""
    return {"pk": "channel#" + image["pk"].split("#", 1)[1], "sk": "private#" + image["sk"]}


def posted_while_private(channel_type: str) -> bool:
    """As SQLite decides it (channel_type > 'channel'): group, im and mpim; "" (Slack didn't say) is neither."""
    return channel_type > "channel"


def text_stems(text: str) -> set[str]:
    """The stems of a text's indexed prefix (a hidden secret's gap is none)."""
    return set(index_stems(text_for_index(text))) - {INDEX_GAP}


def item_text_stems(item: dict) -> tuple[str, ...]:
    """The terms of an item's indexed text in order, as SQLite's full-text index has them (gaps included)."""
    return index_stems(text_for_index(item.get("text", "")))


def name_terms(name: str) -> tuple[str, ...]:
    """The stems the index makes of a label's name (bot.index_terms.index_string: a Japanese name in pairs too)."""
    return tuple(stem for stem in index_stems(index_string(name)) if stem != INDEX_GAP)


def _has_run(item: dict, run: tuple[str, ...]) -> bool:
    """Whether a Japanese word's pairs are adjacent in one of the item's label names or in its text."""
    labels = [label_from_dict(x) for x in json.loads(item["labels"])]
    return has_phrase(item_text_stems(item), run) or any(has_phrase(name_terms(n), run) for n in label_names(labels))


def has_phrase(terms: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    """Whether the phrase's stems are among the terms, adjacent and in order."""
    size = len(phrase)
    return any(terms[start : start + size] == phrase for start in range(len(terms) - size + 1))


def indexed_image(item: dict, stems: frozenset[str], runs: list[tuple[str, ...]] = ()) -> IndexedImage:
    """An index item as a search result; matched: the names a searched word's stem (or run of pairs) is in."""
    labels = tuple(label_from_dict(x) for x in json.loads(item["labels"]))
    return IndexedImage(
        channel_id=item["channel_id"],
        channel_type=item["channel_type"],
        message_ts=item["message_ts"],
        thread_ts=item["thread_ts"],
        file_id=item["file_id"],
        user_id=item["user_id"],
        labels=labels,
        text=item.get("text", ""),
        matched=frozenset(
            name
            for name in label_names(labels)
            if stems.intersection(name_terms(name)) or any(has_phrase(name_terms(name), run) for run in runs)
        ),
    )
