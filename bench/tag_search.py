"""`/labels find` against a big tag index: p50/p99 of the store query and of the whole answer.

    .venv/bin/python -m bench.tag_search [--images 100000] [--runs 50] [--seed 1]

Fills a fresh SQLite store (a temporary file, WAL, as the bot runs it) with indexed images spread over 90 days
and 40 channels of very different sizes, each with a realistic Rekognition label mix (a theme's labels with
their parents and aliases, plus common scene labels), in one transaction. Then times `find` queries: a common
word and a rare one in a busy channel, `in #another-public-channel`, and `since 7d`.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time

from bench.stats import percentile
from bot.labels_command import Find
from bot.render import Label
from bot.store import IndexedImage, Stores, search_words
from bot.store.sqlite import open_sqlite_stores
from bot.tag_search import TagSearch

DAY = 86400.0

# Themes of what gets posted at work: (weight, [(label, parents, aliases), ...]).
THEMES: list[tuple[float, list[tuple[str, tuple[str, ...], tuple[str, ...]]]]] = [
    (
        20,
        [
            ("Person", (), ("Human",)),
            ("Face", ("Head", "Person"), ()),
            ("Smile", ("Face", "Head", "Person"), ()),
            ("Adult", ("Person",), ()),
            ("Man", ("Adult", "Male", "Person"), ()),
            ("Woman", ("Adult", "Female", "Person"), ()),
            ("Crowd", ("Person",), ()),
            ("Clothing", (), ("Apparel",)),
            ("Glasses", ("Accessories",), ()),
        ],
    ),
    (
        18,
        [
            ("Text", (), ()),
            ("Document", ("Text",), ()),
            ("Screenshot", (), ()),
            ("Page", ("Text",), ()),
            ("Electronics", (), ()),
            ("Computer", ("Electronics",), ()),
            ("Monitor", ("Computer Hardware", "Electronics", "Hardware", "Screen"), ("Display",)),
            ("Webpage", ("Text",), ("Web Site",)),
            ("Chart", (), ("Graph",)),
        ],
    ),
    (
        12,
        [
            ("Indoors", (), ()),
            ("Office", ("Indoors",), ()),
            ("Furniture", (), ()),
            ("Table", ("Furniture",), ()),
            ("Dining Table", ("Furniture", "Table"), ()),
            ("Chair", ("Furniture",), ()),
            ("Desk", ("Furniture", "Table"), ()),
            ("Whiteboard", (), ("White Board",)),
            ("Conference Room", ("Indoors", "Room"), ("Meeting Room",)),
            ("Laptop", ("Computer", "Electronics", "Pc"), ()),
        ],
    ),
    (
        10,
        [
            ("Food", (), ()),
            ("Meal", ("Food",), ()),
            ("Lunch", ("Food", "Meal"), ()),
            ("Pizza", ("Food",), ()),
            ("Cup", (), ()),
            ("Coffee Cup", ("Cup",), ()),
            ("Beverage", (), ("Drink",)),
            ("Cake", ("Dessert", "Food"), ()),
            ("Birthday Cake", ("Cake", "Dessert", "Food"), ()),
            ("Plate", (), ()),
        ],
    ),
    (
        8,
        [
            ("Animal", (), ()),
            ("Pet", ("Animal",), ()),
            ("Dog", ("Animal", "Canine", "Mammal", "Pet"), ()),
            ("Labrador Retriever", ("Animal", "Canine", "Dog", "Mammal", "Pet"), ()),
            ("Puppy", ("Animal", "Canine", "Dog", "Mammal", "Pet"), ()),
            ("Cat", ("Animal", "Mammal", "Pet"), ()),
            ("Kitten", ("Animal", "Cat", "Mammal", "Pet"), ()),
            ("Bird", ("Animal",), ()),
        ],
    ),
    (
        8,
        [
            ("Outdoors", (), ()),
            ("Nature", (), ()),
            ("Sky", ("Outdoors",), ()),
            ("Tree", ("Plant",), ()),
            ("Grass", ("Plant",), ()),
            ("Mountain", ("Outdoors", "Nature"), ()),
            ("Beach", ("Coast", "Nature", "Outdoors", "Shoreline"), ()),
            ("Sunset", ("Nature", "Outdoors", "Sky"), ("Dusk",)),
        ],
    ),
    (
        6,
        [
            ("Vehicle", ("Transportation",), ()),
            ("Car", ("Transportation", "Vehicle"), ("Automobile",)),
            ("Bicycle", ("Transportation", "Vehicle"), ("Bike",)),
            ("Truck", ("Transportation", "Vehicle"), ()),
            ("Road", (), ()),
            ("City", ("Urban",), ()),
            ("Building", ("Architecture",), ()),
        ],
    ),
    (
        2,
        [
            ("Giraffe", ("Animal", "Mammal", "Wildlife"), ()),
            ("Zebra", ("Animal", "Mammal", "Wildlife"), ()),
            ("Rocket", ("Aircraft", "Transportation", "Vehicle"), ()),
            ("Telescope", (), ()),
            ("Violin", ("Musical Instrument",), ("Fiddle",)),
        ],
    ),
]
SCENE = [("Person", (), ("Human",)), ("Indoors", (), ()), ("Text", (), ()), ("Outdoors", (), ())]


def random_labels(rng: random.Random) -> tuple[Label, ...]:
    weights = [weight for weight, _ in THEMES]
    theme = rng.choices([labels for _, labels in THEMES], weights)[0]
    picked = rng.sample(theme, k=min(len(theme), rng.randint(2, 6)))
    picked += [scene for scene in SCENE if rng.random() < 0.25 and scene not in picked]
    confidences = sorted((rng.uniform(75, 99.9) for _ in picked), reverse=True)
    return tuple(
        Label(name, round(confidence, 2), parents, aliases)
        for (name, parents, aliases), confidence in zip(picked, confidences, strict=True)
    )


def channels(rng: random.Random) -> tuple[list[tuple[str, str]], list[float]]:
    """40 channels: a few busy ones and a long tail; a quarter private or conversations."""
    names = []
    for index in range(40):
        kind = "channel" if index % 4 else rng.choice(["group", "im", "mpim"])  # 39 (the quietest) is public
        prefix = {"channel": "C", "group": "G", "im": "D", "mpim": "G"}[kind]
        names.append((f"{prefix}{index:08d}", kind))
    names[0] = ("C00000000", "channel")  # the busiest channel is public, where the searches run
    names[1] = ("C00000001", "channel")
    return names, [1 / (rank + 1) for rank in range(len(names))]  # Zipf: the busiest holds ~23%


def fill(store: Stores, count: int, rng: random.Random, now: float) -> dict[str, int]:
    names, weights = channels(rng)
    images, sizes = [], dict.fromkeys((c for c, _ in names), 0)
    for index in range(count):
        channel, kind = rng.choices(names, weights)[0]
        posted = now - rng.uniform(0, 90 * DAY)
        ts = f"{int(posted)}.{rng.randrange(1_000_000):06d}"
        thread = ts if rng.random() < 0.8 else f"{int(posted) - rng.randint(1, 3600)}.000100"
        user = f"U{rng.randrange(500):06d}"
        images.append(IndexedImage(channel, kind, ts, thread, f"F{index:09d}", user, random_labels(rng)))
        sizes[channel] += 1
    store.tags.index_images(images)
    return sizes


class NoSlack:
    """auth.test for the permalinks; conversations.info for `in #channel` (answered from the fill's types, at once:
    the bot remembers the answer for a minute anyway)."""

    def __init__(self, kinds: dict[str, str]) -> None:
        self._kinds = kinds

    def auth_test(self) -> dict:
        return {"ok": True, "url": "https://acme.slack.com/"}

    def conversations_info(self, channel: str) -> dict:
        kind = self._kinds.get(channel, "channel")
        return {"ok": True, "channel": {"id": channel, "is_channel": True, "is_private": kind != "channel"}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    now = time.time()

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/bench.sqlite3"
        store = open_sqlite_stores(path)
        started = time.perf_counter()
        sizes = fill(store, args.images, rng, now)
        filled = time.perf_counter() - started
        store.close()
        store = open_sqlite_stores(path)  # reopened: nothing of the fill left in the connection's cache
        size_mb = sum(os.path.getsize(f"{tmp}/{name}") for name in os.listdir(tmp)) / 1e6
        print(
            f"{args.images:,} images indexed in {filled:.1f} s (one transaction); database {size_mb:.0f} MB; "
            f"C00000000 (busiest) holds {sizes['C00000000']:,}, C00000001 {sizes['C00000001']:,}, "
            f"C00000039 (quietest) {sizes['C00000039']:,}"
        )
        slack = NoSlack(dict(channels(random.Random(args.seed))[0]))
        search = TagSearch(store.tags, slack, retention_days=90)
        search.load_workspace_url(slack)
        here = "C00000000"
        cases = [
            ("common word (person)", Find("person"), here),
            ("rare word (giraffe)", Find("giraffe"), here),
            ("two words (dining table)", Find("dining table"), here),
            ("no match (whiteboards xyz)", Find("whiteboards xyz"), here),
            ("common, in #other public", Find("person", channel_id="C00000001"), here),
            ("rare, in #other public", Find("giraffe", channel_id="C00000001"), here),
            ("common, in a quiet channel", Find("person"), "C00000039"),
            ("rare, in a quiet channel", Find("giraffe"), "C00000039"),
            ("common, since 7d", Find("person", since_days=7), here),
            ("rare, since 7d", Find("giraffe", since_days=7), here),
        ]
        print(f"{'query':28} {'matches':>8} {'store p50':>10} {'store p99':>10} {'answer p50':>11} {'answer p99':>11}")
        for name, find, channel in cases:
            scope = find.channel_id or channel
            since = None if find.since_days is None else time.time() - find.since_days * DAY
            words = search_words(find.words)
            query_ms, answer_ms = [], []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                store.tags.search_images(words, channel_id=scope, since=since, limit=10)
                t1 = time.perf_counter()
                search.answer(find, channel_id=channel, user_id="U1")
                t2 = time.perf_counter()
                query_ms.append((t1 - t0) * 1000)
                answer_ms.append((t2 - t1) * 1000)
            total = len(store.tags.search_images(words, channel_id=scope, since=since, limit=10**9))
            print(
                f"{name:28} {total:>8,} {statistics.median(query_ms):>8.2f}ms {percentile(query_ms, 0.99):>8.2f}ms "
                f"{statistics.median(answer_ms):>9.2f}ms {percentile(answer_ms, 0.99):>9.2f}ms"
            )
        store.close()


if __name__ == "__main__":
    main()
