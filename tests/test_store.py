"""The stores: durable jobs, dedupe, the one-reply claim, resume, settings, on SQLite and on DynamoDB alike (the
make_store fixture); then what only one of them has (SQLite's file and lock, DynamoDB's concurrency and TTL)."""

from __future__ import annotations

import dataclasses
import inspect
import os
import sqlite3
import stat
import threading
import time
import typing
from collections.abc import Callable

import pytest

from bot.config import ConfigError
from bot.render import ImageResult, Instance, Label
from bot.settings import ChannelOverrides
from bot.store import IndexedImage, PictureFile, Stores
from bot.store.dynamodb import build_dynamodb_client, index_stems, open_dynamodb_stores
from bot.store.dynamodb.tables import TABLES
from bot.store.sqlite import open_sqlite_stores
from tests.conftest import Clock

FILES = [{"id": "F1", "name": "a.jpg"}, {"id": "F2", "name": "b.jpg"}]
DAY = 86400


@pytest.fixture
def store(make_store):
    return make_store()


def label_one(store, channel: str, ts: str, file_id: str = "F1") -> None:
    store.queue.enqueue_message(channel, ts, ts, [{"id": file_id}])
    [job] = store.queue.claim_message_jobs(channel, ts)
    store.queue.finish_job(job.id, ImageResult(file_id, f"{file_id}.jpg", labels=(Label("Cat", 99.0),)))


# ---- both stores ------------------------------------------------------------------------------------------------


def test_each_channel_message_file_is_one_job_however_often_it_is_recorded(store):
    assert store.queue.enqueue_message("C1", "1.0", "1.0", FILES) == 2
    assert store.queue.enqueue_message("C1", "1.0", "1.0", FILES) == 0
    assert store.queue.enqueue_message("C1", "1.0", "1.0", FILES[::-1]) == 0  # the other event of the pair
    assert store.queue.enqueue_message("C2", "1.0", "1.0", FILES[:1]) == 1
    assert store.queue.queue_stats().depth == 3


def test_whether_at_least_so_many_jobs_wait_counts_the_queued_and_the_running(store):
    assert store.queue.waiting_at_least(0) and not store.queue.waiting_at_least(1)
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES)
    store.queue.enqueue_message("C1", "2.0", "2.0", [{"id": "F3"}])
    store.queue.claim_job()  # one running, two queued
    assert store.queue.waiting_at_least(3) and not store.queue.waiting_at_least(4)
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F2", "b.jpg"))  # done: no longer waiting
    assert store.queue.waiting_at_least(2) and not store.queue.waiting_at_least(3)
    assert store.queue.waiting_at_least(2) == (store.queue.queue_stats().depth >= 2)


def test_jobs_are_claimed_once_in_order(store):
    store.queue.enqueue_message("C1", "1.0", "0.5", FILES)
    first, second = store.queue.claim_job(), store.queue.claim_job()
    assert (first.file["id"], second.file["id"]) == ("F1", "F2")
    assert first.thread_ts == "0.5"
    assert first.attempts == 1
    assert store.queue.claim_job() is None


def test_the_reply_is_claimed_only_when_every_file_is_done_and_only_once(store):
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES)
    first, second = store.queue.claim_job(), store.queue.claim_job()
    store.queue.finish_job(second.id, ImageResult("F2", "b.jpg", error="broken"))
    assert store.replies.claim_reply("C1", "1.0") is None
    assert store.replies.messages_ready_to_reply() == []
    store.queue.finish_job(first.id, ImageResult("F1", "a.jpg", labels=(Label("Cat", 99.0, ("Animal",)),)))
    assert store.replies.messages_ready_to_reply() == [("C1", "1.0")]

    thread_ts, results, posted_ts, _ = store.replies.claim_reply("C1", "1.0")

    assert (thread_ts, posted_ts) == ("1.0", "")  # a first post
    assert [r.file_id for r in results] == ["F1", "F2"]  # the order they were posted in
    assert results[0].labels == (Label("Cat", 99.0, ("Animal",)),)
    assert results[1].error == "broken"
    assert store.replies.claim_reply("C1", "1.0") is None
    assert store.replies.messages_ready_to_reply() == []


def test_a_refused_message_is_done_at_once_and_its_reply_due(store):
    assert store.queue.enqueue_message("C1", "1.0", "1.0", FILES, refused="busy") == 2

    assert store.queue.claim_job() is None
    assert store.replies.messages_ready_to_reply() == [("C1", "1.0")]
    results = store.replies.claim_reply("C1", "1.0").results
    assert [(r.file_name, r.error) for r in results] == [("a.jpg", "busy"), ("b.jpg", "busy")]
    assert store.summary.labelling_summary(0).images_failed == 2


def test_at_start_running_jobs_are_requeued_and_unsent_replies_found(store):
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES[:1])
    store.queue.enqueue_message("C1", "2.0", "2.0", FILES[:1])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F1", "a.jpg"))
    store.replies.claim_reply("C1", "1.0")  # claimed, then the process died before posting
    store.queue.claim_job()  # running when the process died

    assert store.queue.requeue_interrupted() == 1
    store.replies.requeue_interrupted()

    assert store.replies.messages_ready_to_reply() == [("C1", "1.0")]
    assert store.replies.reply_interrupted("C1", "1.0") is True
    job = store.queue.claim_job()
    assert (job.message_ts, job.attempts) == ("2.0", 2)


def test_only_what_was_taken_before_the_cutoff_counts_as_stalled(make_store):
    clock = Clock()
    store = make_store(clock=clock)
    for ts in ("1.0", "2.0", "3.0"):
        store.queue.enqueue_message("C1", ts, ts, [{"id": "F" + ts}])
    started = clock.now
    stalled = store.queue.claim_job()
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F2.0", "b.jpg"))
    store.replies.claim_reply("C1", "2.0")  # being posted since `started`
    clock.now += 600
    running = store.queue.claim_job()  # taken ten minutes later: still in its invocation's time

    assert store.queue.requeue_stalled(started + 300) == 1
    store.replies.requeue_stalled(started + 300)

    assert store.replies.messages_ready_to_reply() == [("C1", "2.0")]
    assert store.replies.reply_interrupted("C1", "2.0") is True
    again = store.queue.claim_job()
    assert (again.message_ts, again.attempts) == (stalled.message_ts, 2)
    assert store.queue.claim_job() is None  # the later one is still running
    assert store.queue.requeue_stalled(started + 300) == 0
    store.replies.requeue_stalled(started + 300)
    assert running.message_ts == "3.0"


def test_the_invocation_after_the_ack_takes_its_own_message_jobs_in_post_order(store):
    store.queue.enqueue_message("C1", "1.0", "1.0", [{"id": "F0"}])
    store.queue.enqueue_message("C1", "2.0", "0.5", [{"id": "F3"}, {"id": "F1"}, {"id": "F2"}], user_id="U1")

    taken = store.queue.claim_message_jobs("C1", "2.0")

    assert [job.file["id"] for job in taken] == ["F3", "F1", "F2"]
    assert {(job.thread_ts, job.user_id, job.attempts) for job in taken} == {("0.5", "U1", 1)}
    assert store.queue.claim_message_jobs("C1", "2.0") == []  # a retried event's invocation gets none
    assert store.queue.claim_job().message_ts == "1.0"  # the other message's job is still queued
    assert store.queue.claim_job() is None
    for job in taken:
        store.queue.finish_job(job.id, ImageResult(job.file["id"], "x.jpg"))
    assert [r.file_id for r in store.replies.claim_reply("C1", "2.0")[1]] == ["F3", "F1", "F2"]


def test_channel_settings_stay_separate_and_a_change_keeps_the_others(store):
    store.settings.save_overrides("C1", ChannelOverrides(threshold=90.0, include=("Dog", "Cat")))
    # As /labels does: read, change one setting, save.
    store.settings.save_overrides(
        "C1", ChannelOverrides(**{**vars(store.settings.get_overrides("C1")), "max_labels": 3})
    )
    store.settings.save_overrides("C2", ChannelOverrides(enabled=False, tags=True, exclude=()))

    assert store.settings.get_overrides("C1") == ChannelOverrides(threshold=90.0, max_labels=3, include=("Dog", "Cat"))
    assert store.settings.get_overrides("C2") == ChannelOverrides(enabled=False, tags=True, exclude=())
    assert store.settings.get_overrides("C3") == ChannelOverrides()
    store.settings.save_overrides("C1", ChannelOverrides())  # /labels reset
    assert store.settings.get_overrides("C1") == ChannelOverrides()


def test_a_channels_language_is_kept_and_saved_on_its_own(store):
    store.settings.save_overrides("C1", ChannelOverrides(threshold=90.0, language="ja"))
    store.settings.save_overrides("C1", ChannelOverrides(max_labels=3), fields=("max_labels",))
    assert store.settings.get_overrides("C1") == ChannelOverrides(threshold=90.0, max_labels=3, language="ja")
    store.settings.save_overrides("C1", ChannelOverrides(), fields=("language",))  # /labels language default
    assert store.settings.get_overrides("C1") == ChannelOverrides(threshold=90.0, max_labels=3)


def test_a_channels_moderation_settings_are_kept_and_saved_field_by_field(store):
    moderated = ChannelOverrides(moderation=True, moderation_threshold=75.0, moderation_ignored=("Alcohol",))
    store.settings.save_overrides("C1", moderated)
    store.settings.save_overrides("C1", ChannelOverrides(threshold=90.0), fields=("threshold",))
    store.settings.save_overrides("C2", ChannelOverrides(moderation=False, moderation_ignored=()))

    assert store.settings.get_overrides("C1") == ChannelOverrides(
        threshold=90.0, moderation=True, moderation_threshold=75.0, moderation_ignored=("Alcohol",)
    )
    assert store.settings.get_overrides("C2") == ChannelOverrides(moderation=False, moderation_ignored=())
    store.settings.save_overrides("C1", ChannelOverrides(), fields=("moderation_ignored",))  # back to the default
    assert store.settings.get_overrides("C1").moderation_ignored is None


def test_a_channels_text_mode_is_kept_saved_alone_and_reset_to_the_default(store):
    store.settings.save_overrides("C1", ChannelOverrides(threshold=90.0, text="off"))
    store.settings.save_overrides("C1", ChannelOverrides(text="on"), fields=("text",))
    assert store.settings.get_overrides("C1") == ChannelOverrides(threshold=90.0, text="on")
    store.settings.save_overrides("C1", ChannelOverrides(), fields=("text",))
    assert store.settings.get_overrides("C1") == ChannelOverrides(threshold=90.0)


def test_what_the_moderation_commands_save_reads_back_as_it_was(store):
    """/labels moderation threshold 72.5, ignore with names holding & and spaces, then ignore none (an empty list,
    not the default), each saved as the command saves it: only its field."""
    before = ChannelOverrides()
    for change in (
        ChannelOverrides(moderation=True),
        ChannelOverrides(moderation=True, moderation_threshold=72.5),
        ChannelOverrides(
            moderation=True,
            moderation_threshold=72.5,
            moderation_ignored=("Non-Explicit Nudity of Intimate parts and Kissing", "Drugs & Tobacco", "Alcohol"),
        ),
        ChannelOverrides(moderation=True, moderation_threshold=72.5, moderation_ignored=()),
    ):
        store.settings.save_overrides("C1", change, fields=change.changed_fields(before))
        assert store.settings.get_overrides("C1") == change
        before = change


def test_a_reply_whose_post_may_have_landed_is_checked_in_the_thread_next_time(store):
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES[:1])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F1", "a.jpg"))
    store.replies.claim_reply("C1", "1.0")
    store.replies.release_reply("C1", "1.0")  # Slack answered with an error: nothing was posted
    assert store.replies.reply_interrupted("C1", "1.0") is False

    store.replies.claim_reply("C1", "1.0")
    store.replies.release_reply("C1", "1.0", maybe_posted=True)  # the connection dropped: it may have been posted

    assert store.replies.reply_interrupted("C1", "1.0") is True
    assert store.replies.messages_ready_to_reply() == [("C1", "1.0")]


def test_a_message_deleted_while_its_reply_is_posted_gets_the_reply_deleted(store):
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES[:1])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F1", "a.jpg"))
    store.replies.claim_reply("C1", "1.0")

    store.deletions.forget_message("C1", "1.0")
    store.replies.mark_replied("C1", "1.0", "1.5")

    assert store.replies.replies_to_delete() == [("C1", "1.0", "1.5", "")]
    assert store.replies.messages_ready_to_reply() == []


def test_a_replys_deletion_is_claimed_by_one_sweep_at_a_time_until_its_claim_lapses(make_store):
    clock = Clock()
    store = make_store(clock=clock)
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES[:1])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F1", "a.jpg"))
    store.replies.claim_reply("C1", "1.0")
    store.replies.mark_replied("C1", "1.0", "1.5")
    store.deletions.forget_message("C1", "1.0")

    assert store.replies.claim_reply_deletion("C1", "1.0") is True
    assert store.replies.claim_reply_deletion("C1", "1.0") is False  # another sweep at the same time
    clock.now += 61  # the first sweep's chat.delete never came back: a later sweep tries again
    assert store.replies.claim_reply_deletion("C1", "1.0") is True
    store.replies.release_reply_deletion("C1", "1.0")  # rate limited: the next sweep, whenever it comes
    assert store.replies.claim_reply_deletion("C1", "1.0") is True
    store.replies.mark_reply_deleted("C1", "1.0")
    clock.now += 61
    assert store.replies.claim_reply_deletion("C1", "1.0") is False and store.replies.replies_to_delete() == []


def test_each_concern_implements_its_protocol_with_the_same_parameters(make_store):
    """What a new concern (a field of Stores) must match on both backends: every method of its protocol, with the
    protocol's parameters (an implementation may add keyword-only ones with defaults, e.g. a purge's batch size)."""
    store = make_store()
    protocols = typing.get_type_hints(Stores)
    for concern in dataclasses.fields(Stores):
        protocol, implementation = protocols[concern.name], getattr(store, concern.name)
        if protocol.__module__.startswith("slack_sdk."):  # slack_sdk's own interfaces: tests/test_installations.py
            assert isinstance(implementation, protocol), concern.name
            continue
        methods = [name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")]
        assert methods, concern.name
        for name in methods:
            wanted = list(inspect.signature(getattr(protocol, name)).parameters.values())
            given = list(inspect.signature(getattr(type(implementation), name)).parameters.values())
            assert given[: len(wanted)] == wanted, f"{concern.name}.{name}"
            extra = given[len(wanted) :]
            assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in extra), f"{concern.name}.{name}"


# ---- SQLite only ------------------------------------------------------------------------------------------------


def test_the_database_file_is_private_to_its_owner(tmp_path):
    path = tmp_path / "labelbot.sqlite3"
    open_sqlite_stores(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_burst_is_claimed_a_turn_of_every_channel_at_a_time(tmp_path):
    """Each claim takes, of the oldest queued jobs, the one with the smallest turn in its channel (how many of the
    channel's messages came in the minute before it), then the oldest: C1's three messages came first, yet C2's and
    C3's first go before C1's second, since each channel's replies go out a post a second."""
    store = open_sqlite_stores(tmp_path / "db")
    try:
        burst = [
            ("C1", "1765100000.000001"),
            ("C1", "1765100000.000002"),
            ("C1", "1765100000.000003"),
            ("C2", "1765100000.000004"),
            ("C3", "1765100000.000005"),
            ("C2", "1765100000.000006"),
        ]
        for channel, ts in burst:
            store.queue.enqueue_message(channel, ts, ts, [{"id": f"F{ts}"}])

        claimed = [store.queue.claim_job() for _ in range(3)]
        store.replies.mark_replied("C1", burst[0][1], "9.1")  # answered meanwhile: the turns stay as they were
        claimed += [store.queue.claim_job() for _ in range(3)]

        assert [(job.channel_id, job.message_ts[-1], job.turn) for job in claimed] == [
            ("C1", "1", 0),
            ("C2", "4", 0),
            ("C3", "5", 0),
            ("C1", "2", 1),
            ("C2", "6", 1),
            ("C1", "3", 2),
        ]
        # A minute after C3's message, its next one is its first turn again.
        store.queue.enqueue_message("C3", "1765100061.000000", "1765100061.000000", [{"id": "Flater"}])
        later = store.queue.claim_job()
        assert (later.channel_id, later.turn, store.queue.claim_job()) == ("C3", 0, None)
    finally:
        store.close()


def test_after_a_restart_running_jobs_are_requeued_and_settings_kept(tmp_path):
    path = tmp_path / "db"
    store = open_sqlite_stores(path)
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES[:1])
    store.queue.enqueue_message("C1", "2.0", "2.0", FILES[:1])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F1", "a.jpg"))
    store.replies.claim_reply("C1", "1.0")  # claimed, then the process died before posting
    store.queue.claim_job()  # running when the process died
    store.settings.save_overrides("C1", ChannelOverrides(threshold=90.0, max_labels=3))
    store.close()

    reopened = open_sqlite_stores(path)
    assert reopened.queue.requeue_interrupted() == 1
    reopened.replies.requeue_interrupted()
    assert reopened.replies.messages_ready_to_reply() == [("C1", "1.0")]
    assert reopened.queue.claim_job().attempts == 2
    assert reopened.settings.get_overrides("C1") == ChannelOverrides(threshold=90.0, max_labels=3)
    reopened.close()


def test_a_reply_claimed_by_a_version_without_posting_since_is_requeued_after_the_upgrade(tmp_path):
    path = tmp_path / "db"
    store = open_sqlite_stores(path)
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES[:1])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F1", "a.jpg"))
    store.replies.claim_reply("C1", "1.0")
    store.close()
    with sqlite3.connect(path) as db:  # as an older version left it
        db.execute("ALTER TABLE messages DROP COLUMN posting_since")

    upgraded = open_sqlite_stores(path)

    assert upgraded.queue.requeue_stalled(time.time() - 60) == 0
    upgraded.replies.requeue_stalled(time.time() - 60)
    assert upgraded.replies.messages_ready_to_reply() == [("C1", "1.0")]
    upgraded.close()


def test_a_database_from_before_text_reading_gains_the_column_and_keeps_its_settings(tmp_path):
    path = tmp_path / "db"
    store = open_sqlite_stores(path)
    store.settings.save_overrides("C1", ChannelOverrides(threshold=90.0))
    store.close()
    with sqlite3.connect(path) as db:  # as the version before /labels text left it
        db.execute("ALTER TABLE channel_settings DROP COLUMN text_mode")

    upgraded = open_sqlite_stores(path)

    assert upgraded.settings.get_overrides("C1") == ChannelOverrides(threshold=90.0)
    upgraded.settings.save_overrides("C1", ChannelOverrides(threshold=90.0, text="off"), fields=("text",))
    assert upgraded.settings.get_overrides("C1").text == "off"
    upgraded.close()


def test_an_index_made_before_text_was_indexed_is_rebuilt_at_start_and_finds_its_old_images(tmp_path):
    path = tmp_path / "db"
    now = time.time()
    old, new = f"{int(now) - 60}.000001", f"{int(now)}.000001"
    store = open_sqlite_stores(path)
    store.tags.index_images([IndexedImage("C1", "group", old, old, "F_OLD", "U1", (Label("Dog", 99.0, ("Animal",)),))])
    store.close()
    with sqlite3.connect(path) as db:  # as the version before text left it: no text column, tag_words(labels, channel)
        db.execute("ALTER TABLE tagged_images DROP COLUMN text")
        rows = db.execute("SELECT rowid, labels, channel FROM tag_words").fetchall()
        db.execute("DROP TABLE tag_words")
        tokenizer = "tokenize = 'porter unicode61 remove_diacritics 2'"
        db.execute(f"CREATE VIRTUAL TABLE tag_words USING fts5(labels, channel, {tokenizer})")
        db.executemany("INSERT INTO tag_words (rowid, labels, channel) VALUES (?,?,?)", rows)

    upgraded = open_sqlite_stores(path)
    upgraded.tags.index_images([IndexedImage("C1", "channel", new, new, "F_NEW", "U1", (), "invoice for a dog")])

    [match, first] = upgraded.tags.search_images(("dog",), channel_id="C1")
    assert (match.file_id, first.file_id) == ("F_NEW", "F_OLD")
    assert first.matched == {"Dog"} and first.text == ""
    assert [m.file_id for m in upgraded.tags.search_images(("animal",), channel_id="C1")] == ["F_OLD"]
    assert [m.file_id for m in upgraded.tags.search_images((), channel_id="C1", phrases=(("invoice", "for"),))] == [
        "F_NEW"
    ]
    assert not upgraded.tags.channel_is_public("C1")  # the old image's channel type is kept
    upgraded.close()
    with sqlite3.connect(path) as db:
        assert [row[1] for row in db.execute("PRAGMA table_info(tag_words)")] == ["labels", "channel", "text"]


def test_a_second_process_cannot_open_the_same_database(tmp_path):
    path = tmp_path / "db"
    first = open_sqlite_stores(path)
    with pytest.raises(ConfigError, match="is in use by another labelbot process"):
        open_sqlite_stores(path, lock_wait_seconds=0.3)
    first.close()
    open_sqlite_stores(path, lock_wait_seconds=0.3).close()  # free again once the first has stopped


# ---- DynamoDB only ----------------------------------------------------------------------------------------------


@pytest.fixture
def dynamo(local_dynamodb) -> Callable[..., Stores]:
    """dynamo(**options) -> the DynamoDB stores on fresh tables; their backend's client reads the tables directly."""
    made = []

    def make(**options) -> Stores:
        made.append(open_dynamodb_stores(local_dynamodb.new_tables(), client=local_dynamodb.client(), **options))
        return made[-1]

    yield make
    for store in made:
        store.close()


def at_once(count: int, work: Callable[[], object]) -> list:
    """Run work in count threads released together; their results."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(n: int) -> None:
        barrier.wait()
        results[n] = work()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_a_message_recorded_by_two_events_at_once_is_one_job_per_file(dynamo):
    store = dynamo()
    files = [{"id": f"F{n}"} for n in range(4)]

    added = at_once(2, lambda: store.queue.enqueue_message("C1", "1.0", "1.0", files))

    assert sum(added) == 4
    assert store.queue.queue_stats().depth == 4
    assert sorted(job.file["id"] for job in store.queue.claim_message_jobs("C1", "1.0")) == ["F0", "F1", "F2", "F3"]


def test_a_reply_is_not_claimed_while_its_message_is_being_recorded(dynamo, monkeypatch):
    """DynamoDB writes a message's item before its jobs' (an item each): the channel's previous reply, looking for
    the next waiting one meanwhile (as it does right after posting), must not settle this one with none of its
    images (seen: the next image's reply never posted)."""
    store = dynamo()
    store.queue.enqueue_message("C1", "1.0", "1.0", [{"id": "F1"}])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F1", "a.jpg", labels=(Label("Cat", 99.0),)))
    store.replies.claim_reply("C1", "1.0")
    store.replies.mark_replied("C1", "1.0", "1.5")
    seen_meanwhile = []
    record_job = type(store.queue)._record_job

    def another_invocation_looks_first(self, message, position, file, refused, now):
        following = store.replies.next_waiting_reply("C1", "1.0")
        seen_meanwhile.append((following, following and store.replies.claim_reply("C1", following)))
        return record_job(self, message, position, file, refused, now)

    monkeypatch.setattr(type(store.queue), "_record_job", another_invocation_looks_first)
    store.queue.enqueue_message("C1", "2.0", "2.0", [{"id": "F2"}, {"id": "F3"}], refused="busy")
    monkeypatch.undo()

    assert seen_meanwhile == [("2.0", None), ("2.0", None)]  # found waiting, but not claimed
    _, results, _, _ = store.replies.claim_reply("C1", "2.0")
    assert [(r.file_id, r.error) for r in results] == [("F2", "busy"), ("F3", "busy")]  # both images, once


def test_invocations_claiming_at_once_never_get_the_same_job_or_reply(dynamo):
    store = dynamo()
    for n in range(12):
        store.queue.enqueue_message("C1", f"{n}.0", f"{n}.0", [{"id": f"F{n}"}])

    def claim_all() -> list[str]:
        claimed = []
        while (job := store.queue.claim_job()) is not None:
            claimed.append(job.id)
        return claimed

    claims = at_once(4, claim_all)

    assert sorted(job for claimed in claims for job in claimed) == sorted({job for c in claims for job in c})
    assert sum(len(claimed) for claimed in claims) == 12
    store.queue.enqueue_message("C2", "1.0", "1.0", [{"id": "F"}])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F", "f.jpg"))
    replies = at_once(4, lambda: store.replies.claim_reply("C2", "1.0"))
    assert sum(reply is not None for reply in replies) == 1
    messages = at_once(3, lambda: store.queue.claim_message_jobs("C1", "0.0"))
    assert messages == [[], [], []]  # all taken already


def test_saving_settings_updates_only_the_settings_fields(dynamo):
    store = dynamo()
    client, table = store.backend.client, store.backend.settings_table
    store.settings.save_overrides("C1", ChannelOverrides(threshold=90.0, tags=True))
    client.update_item(  # something else keeps an attribute on the same item
        TableName=table,
        Key={"channel_id": {"S": "C1"}},
        UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "kept"}},
    )

    store.settings.save_overrides("C1", ChannelOverrides(threshold=80.0))

    item = client.get_item(TableName=table, Key={"channel_id": {"S": "C1"}})["Item"]
    assert item["note"] == {"S": "kept"}
    assert item["threshold"] == {"N": "80.0"}
    assert "tags" not in item  # reset to the default: removed, not stored as null
    assert store.settings.get_overrides("C1") == ChannelOverrides(threshold=80.0)


def test_expired_items_are_not_read_while_they_wait_for_ttl(dynamo):
    clock = Clock()
    store = dynamo(clock=clock, retention_days=1)
    ts = f"{int(clock.now)}.000001"
    store.label_cache.cache_labels("key", (Label("Cat", 99.0),))
    store.tags.index_images([IndexedImage("C1", "channel", ts, ts, "F1", "U1", (Label("Cat", 99.0),))])
    label_one(store, "C1", "1.0")
    store.replies.claim_reply("C1", "1.0")
    store.replies.mark_replied("C1", "1.0", "1.5")
    store.deletions.forget_file("F_GONE")
    assert (
        store.tags.search_images(("cat",), channel_id="C1") and store.summary.labelling_summary(0).images_labelled == 1
    )

    clock.now += 31 * DAY  # past every expires_at; TTL hasn't run (moto never runs it)

    assert store.backend.client.get_item(
        TableName=store.backend.tags_table, Key={"pk": {"S": "image#C1"}, "sk": {"S": f"{ts}#F1"}}
    )["Item"]
    assert store.label_cache.cached_labels("key", newer_than=0) is None
    assert store.tags.search_images(("cat",), channel_id="C1") == []
    assert store.tags.channel_is_public("C1") is False
    assert store.summary.labelling_summary(0).images_labelled == 0
    assert store.queue.enqueue_message("C1", "1.0", "1.0", [{"id": "F1"}]) == 1  # recorded afresh
    gone = IndexedImage("C1", "channel", ts, ts, "F_GONE", "U1", (Label("Cat", 99.0),))
    assert store.tags.index_images([gone]) == 1  # the file's deletion is forgotten too


def test_purges_count_what_is_past_the_cutoff_even_after_it_expired(dynamo):
    clock = Clock()
    store = dynamo(clock=clock)
    clock.now -= 91 * DAY
    label_one(store, "C1", "1.0")
    store.label_cache.cache_labels("key", ())
    clock.now += 91 * DAY

    assert store.queue.purge_finished_jobs(clock.now - 90 * DAY) == 1
    assert store.label_cache.purge_label_cache(clock.now - 30 * DAY) == 1
    assert store.queue.purge_finished_jobs(clock.now - 90 * DAY) == 0


def recorded_calls(store) -> list[tuple[str, dict]]:
    """Every DynamoDB request the store's client makes from now on: (operation, its parameters)."""
    calls: list[tuple[str, dict]] = []
    store.backend.client.meta.events.register(
        "before-parameter-build.dynamodb", lambda params, model, **_: calls.append((model.name, dict(params)))
    )
    return calls


def test_a_search_queries_its_rarest_words_partition_and_never_scans(dynamo):
    store = dynamo()
    now = time.time()
    images = [
        IndexedImage("C1", "channel", f"{int(now) - n}.000001", f"{int(now) - n}.000001", f"F{n}", "U1", (), text)
        for n, text in enumerate(["error: connection refused"] * 2 + ["error: connection reset"] * 5 + ["error"] * 3)
    ]
    store.tags.index_images(images)
    calls = recorded_calls(store)

    matches = store.tags.search_images(("error",), channel_id="C1", phrases=(("connection", "refused"),))

    assert [m.file_id for m in matches] == ["F0", "F1"]
    assert "Scan" not in {name for name, _ in calls}
    counts = [params for name, params in calls if name == "Query" and params.get("Select") == "COUNT"]
    assert [c["ExpressionAttributeValues"][":pk"]["S"] for c in counts] == [
        "word#C1#error",
        "word#C1#connect",
        "word#C1#refus",
    ]
    assert all(c["Limit"] <= 25 for c in counts)
    [search] = [params for name, params in calls if name == "Query" and "Select" not in params]
    assert search["ExpressionAttributeValues"][":pk"]["S"] == "word#C1#refus"  # 2 entries, against 7 and 10

    calls.clear()
    assert store.tags.search_images(("error", "whiteboard"), channel_id="C1") == []
    assert [name for name, _ in calls] == ["Query", "Query"]  # whiteboard counted none: no search, no Scan
    calls.clear()
    assert len(store.tags.search_images(("error",), channel_id=None)) == 10  # every channel: the registry, no Scan
    assert "Scan" not in {name for name, _ in calls}
    assert not any(params.get("Select") == "COUNT" for _, params in calls)  # one word: nothing to choose


def test_words_stem_as_the_sqlite_index_stems_them():
    assert index_stems("Running Shoes") == ("run", "shoe")
    assert index_stems("Crème brûlée") == ("creme", "brule")
    assert index_stems("clothes") == index_stems("Clothing") == ("cloth",)


def test_the_tests_tables_are_what_create_tables_makes_through_dynamodbs_api(local_dynamodb):
    """The tests' tables are made in moto's backend directly (tests/fakes/dynamodb.py); made through the API
    instead (moto validating each request as DynamoDB does), they describe the same."""
    client = local_dynamodb.client()
    direct, through_the_api = local_dynamodb.new_tables(), local_dynamodb.new_tables(through_the_api=True)

    for logical in direct:
        descriptions = []
        for names in (direct, through_the_api):
            table = client.describe_table(TableName=names[logical])["Table"]
            del table["CreationDateTime"]
            ttl = client.describe_time_to_live(TableName=names[logical])["TimeToLiveDescription"]
            descriptions.append(repr((table, ttl)).replace(names[logical], "<name>"))
        assert descriptions[0] == descriptions[1]
        assert ("'TimeToLiveStatus': 'ENABLED'" in descriptions[0]) is TABLES[logical]["ttl"]


def test_the_client_retries_five_times_in_standard_mode_with_short_timeouts(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")

    client = build_dynamodb_client()

    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert client.meta.config.read_timeout <= 10 and client.meta.config.connect_timeout <= 5
    assert client.meta.endpoint_url == "http://127.0.0.1:9"


HELD = (("Violence", 91.0),)


def held_and_replied(store, files=FILES) -> None:
    """A message whose first image moderation held and whose reply (the held line) was posted as 5.5."""
    store.queue.enqueue_message("C1", "1.0", "1.0", files)
    jobs = [store.queue.claim_job() for _ in files]
    store.queue.finish_job(jobs[0].id, ImageResult(files[0]["id"], files[0]["name"], held=HELD))
    for job, file in zip(jobs[1:], files[1:], strict=True):
        store.queue.finish_job(job.id, ImageResult(file["id"], file["name"], labels=(Label("Cat", 99.0),)))
    claimed = store.replies.claim_reply("C1", "1.0")
    assert claimed.results[0].held == HELD  # the held result is stored as such
    store.replies.mark_replied("C1", "1.0", "5.5")


def test_a_released_image_is_labelled_again_and_its_reply_updated_in_place(store):
    held_and_replied(store)

    assert store.queue.relabel("C1", "1.0", "F1") is True
    assert store.queue.relabel("C1", "1.0", "F1") is False  # requeued already: a second press adds nothing
    assert store.queue.relabel("C1", "1.0", "F2") is False  # labelled, never held
    job = store.queue.claim_job()
    assert (job.file["id"], job.attempts) == ("F1", 1)  # its attempts from 0: not taken for a crash loop
    assert store.replies.claim_reply("C1", "1.0") is None  # its job runs
    store.queue.finish_job(job.id, ImageResult("F1", "a.jpg", labels=(Label("Dog", 97.0),)))

    thread_ts, results, posted_ts, _ = store.replies.claim_reply("C1", "1.0")
    assert (thread_ts, posted_ts) == ("1.0", "5.5")  # the reply to update
    assert [r.labels for r in results] == [(Label("Dog", 97.0),), (Label("Cat", 99.0),)]
    store.replies.mark_replied("C1", "1.0", "5.5")
    assert store.replies.messages_ready_to_reply() == []
    assert store.queue.relabel("C1", "1.0", "F1") is False  # labelled now
    assert store.summary.labelling_summary(0).images_labelled == 2


def test_a_held_image_counts_as_neither_labelled_nor_failed(store):
    held_and_replied(store)
    summary = store.summary.labelling_summary(0)
    assert (summary.images_labelled, summary.images_failed) == (1, 0)


def test_of_presses_at_once_exactly_one_requeues_the_released_image(store):
    held_and_replied(store, files=[FILES[0]])
    assert sorted(at_once(4, lambda: store.queue.relabel("C1", "1.0", "F1"))) == [False, False, False, True]
    assert store.queue.claim_job() is not None and store.queue.claim_job() is None


def test_a_deleted_message_or_unknown_image_is_not_relabelled(store):
    held_and_replied(store)
    assert store.queue.relabel("C1", "1.0", "F9") is False
    assert store.queue.relabel("C9", "1.0", "F1") is False
    store.deletions.forget_message("C1", "1.0")
    assert store.queue.relabel("C1", "1.0", "F1") is False
    assert store.queue.claim_job() is None


def test_a_labels_instances_are_kept_by_the_label_cache_and_the_jobs_result(store):
    """What "Show where" draws comes from what was stored when the image was labelled: no second Rekognition call."""
    dog = Label("Dog", 98.0, ("Animal",), (), (Instance(0.1, 0.2, 0.25, 0.5, 97.5), Instance(0.6, 0.2, 0.2, 0.4, 88.0)))
    store.label_cache.cache_labels("key", (dog, Label("Grass", 90.0)))
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES[:1])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F1", "a.jpg", labels=(dog,)))

    assert store.label_cache.cached_labels("key", newer_than=0) == (dog, Label("Grass", 90.0))
    _, results, _, _ = store.replies.claim_reply("C1", "1.0")
    assert results[0].labels == (dog,)


# ---- Show where's pictures -----------------------------------------------------------------------------------------


def test_a_messages_labelled_images_are_read_back_with_their_files_and_boxes_in_post_order(store):
    dog = Label("Dog", 98.0, (), (), (Instance(0.1, 0.2, 0.25, 0.5, 97.5),))
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES)
    first, second = store.queue.claim_message_jobs("C1", "1.0")
    store.queue.finish_job(second.id, ImageResult(second.file["id"], "b.jpg", labels=(Label("Grass", 90.0),)))
    assert [image.file["id"] for image in store.pictures.labelled_images("C1", "1.0")] == ["F2"]  # F1 runs still
    boxes = ((0.1, 0.1, 0.5, 0.1), (0.1, 0.3, 0.5, 0.1))
    store.queue.finish_job(
        first.id,
        ImageResult(
            first.file["id"],
            "a.jpg",
            labels=(dog,),
            text="BEWARE OF DOG · pin: [hidden]",
            text_boxes=boxes,
            secret_text_boxes=boxes[1:],
            safe_copy=b"not kept",
        ),
    )

    images = store.pictures.labelled_images("C1", "1.0")

    assert [(i.file, i.result.labels, i.result.text, i.result.text_boxes) for i in images] == [
        (FILES[0], (dog,), "BEWARE OF DOG · pin: [hidden]", boxes),
        (FILES[1], (Label("Grass", 90.0),), "", ()),
    ]
    assert [(i.result.secret_text_boxes, i.result.safe_copy) for i in images] == [(boxes[1:], None), ((), None)]
    assert store.pictures.labelled_images("C1", "2.0") == []
    store.deletions.forget_message("C1", "1.0")
    assert store.pictures.labelled_images("C1", "1.0") == []  # deleted in Slack: nothing to draw


def test_the_first_press_claims_the_picture_the_others_wait_then_get_its_link(store):
    assert store.pictures.claim_picture("C1", "1.0", stale_before=0) == ("claimed", "")
    assert store.pictures.claim_picture("C1", "1.0", stale_before=0) == ("drawing", "")
    assert store.pictures.claim_picture("C1", "2.0", stale_before=0) == ("claimed", "")  # another message's own

    store.pictures.picture_posted("C1", "1.0", "https://fake.slack.com/files/U1/F9/where.jpg", {"F1": "F9"})

    assert store.pictures.claim_picture("C1", "1.0", stale_before=float("inf")) == (
        "posted",
        "https://fake.slack.com/files/U1/F9/where.jpg",
    )


def test_a_failed_or_abandoned_claim_is_taken_by_the_next_press(store):
    assert store.pictures.claim_picture("C1", "1.0", stale_before=0)[0] == "claimed"
    store.pictures.release_picture("C1", "1.0")  # the upload failed
    assert store.pictures.claim_picture("C1", "1.0", stale_before=0)[0] == "claimed"
    assert store.pictures.claim_picture("C1", "1.0", stale_before=time.time() + 1)[0] == "claimed"  # a crash's claim
    store.pictures.picture_posted("C1", "1.0", "https://fake.slack.com/files/x", {"F1": "FX"})
    store.pictures.release_picture("C1", "1.0")  # releasing never drops a posted picture
    assert store.pictures.claim_picture("C1", "1.0", stale_before=time.time() + 1)[0] == "posted"


def test_two_presses_at_once_make_one_claim(store):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        states = list(pool.map(lambda _: store.pictures.claim_picture("C1", "1.0", stale_before=0)[0], range(8)))

    assert sorted(states) == ["claimed"] + ["drawing"] * 7


def test_a_claim_never_posted_goes_with_the_retention_and_a_posted_pictures_record_stays_to_delete_it_later(
    make_store,
):
    clock = Clock()
    store = make_store(clock=clock)
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES)
    store.pictures.claim_picture("C1", "1.0", stale_before=0)
    store.pictures.picture_posted("C1", "1.0", "https://fake.slack.com/files/x", {"F1": "FX"})
    store.pictures.claim_picture("C1", "2.0", stale_before=0)  # its press died before the upload

    clock.now += 91 * DAY
    store.pictures.purge_pictures(clock.now - 90 * DAY)

    # gone on SQLite, expired on DynamoDB (its TTL): the next press draws a new one
    assert store.pictures.claim_picture("C1", "2.0", stale_before=0)[0] == "claimed"
    assert store.pictures.claim_picture("C1", "1.0", stale_before=0) == ("posted", "https://fake.slack.com/files/x")
    store.deletions.forget_message("C1", "1.0")  # deleted in Slack long after: its picture still goes
    assert store.pictures.picture_files_to_delete() == [PictureFile("FX", "C1")]


def posted_picture(store, channel="C1", ts="1.0", uploads=None) -> None:
    store.queue.enqueue_message(channel, ts, ts, FILES)
    assert store.pictures.claim_picture(channel, ts, stale_before=0)[0] == "claimed"
    store.pictures.picture_posted(channel, ts, "https://fake.slack.com/files/UBOT/FP1/a-where.jpg", uploads)


def test_a_deleted_messages_picture_files_are_queued_for_deletion_until_each_is_deleted(store):
    posted_picture(store, uploads={"F1": "FP1", "F2": "FP2"})
    posted_picture(store, "C2", "5.0", uploads={"F9": "FP9"})  # another message's: not touched
    assert store.pictures.picture_files_to_delete() == []

    store.deletions.forget_message("C1", "1.0")

    assert sorted(store.pictures.picture_files_to_delete()) == [PictureFile("FP1", "C1"), PictureFile("FP2", "C1")]
    store.pictures.picture_file_deleted("FP1")
    assert store.pictures.picture_files_to_delete() == [PictureFile("FP2", "C1")]
    store.pictures.picture_file_deleted("FP2")
    assert store.pictures.picture_files_to_delete() == []
    store.deletions.forget_message("C1", "1.0")  # Slack sends it again: nothing more to do
    assert store.pictures.picture_files_to_delete() == []
    assert store.pictures.claim_picture("C2", "5.0", stale_before=0)[0] == "posted"


def test_a_deleted_files_picture_is_queued_and_the_messages_other_pictures_stay_until_theirs_go(store):
    posted_picture(store, uploads={"F1": "FP1", "F2": "FP2"})

    store.deletions.forget_file("F1")

    assert store.pictures.picture_files_to_delete() == [PictureFile("FP1", "C1")]
    assert store.pictures.claim_picture("C1", "1.0", stale_before=0) == ("posted", "")  # its link may be to FP1
    store.pictures.picture_file_deleted("FP1")
    store.deletions.forget_file("F2")  # the message's last image: its reply and its whole picture go
    assert store.pictures.picture_files_to_delete() == [PictureFile("FP2", "C1")]


@pytest.mark.parametrize("deleted", ["message", "file"])
def test_a_picture_posted_after_its_image_was_deleted_is_queued_at_once(store, deleted):
    store.queue.enqueue_message("C1", "1.0", "1.0", FILES)
    assert store.pictures.claim_picture("C1", "1.0", stale_before=0)[0] == "claimed"
    if deleted == "message":
        store.deletions.forget_message("C1", "1.0")  # while the press was drawing and uploading
    else:
        store.deletions.forget_file("F2")

    store.pictures.picture_posted("C1", "1.0", "https://fake.slack.com/files/UBOT/FP1/a-where.jpg", {"F2": "FP2"})

    assert store.pictures.picture_files_to_delete() == [PictureFile("FP2", "C1")]


def test_a_result_stored_before_secret_lines_were_recorded_covers_every_line_if_its_text_hid_one():
    from bot.store.encoding import result_from_dict

    boxes = [[0.1, 0.1, 0.5, 0.1], [0.1, 0.3, 0.5, 0.1]]
    stored = {"file_id": "F1", "file_name": "a.png", "labels": [], "text_boxes": boxes}
    assert result_from_dict({**stored, "text": "pin: [hidden] · ok"}).secret_text_boxes == tuple(map(tuple, boxes))
    assert result_from_dict({**stored, "text": "nothing hidden"}).secret_text_boxes == ()


def test_an_index_made_before_japanese_was_indexed_in_pairs_is_rebuilt_once_and_finds_its_words(tmp_path):
    path = tmp_path / "db"
    ts = f"{int(time.time())}.000001"
    store = open_sqlite_stores(path)
    store.tags.index_images([IndexedImage("C1", "channel", ts, ts, "F1", "U1", (), "明日の会議は午後三時からです")])
    store.close()
    with sqlite3.connect(path) as db:  # as the version before pairs left it: the whole run one term, no format row
        db.execute("DROP TABLE tag_words_format")
        db.execute("UPDATE tag_words SET text = '明日の会議は午後三時からです'")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM tag_words WHERE tag_words MATCH '会議'").fetchone() == (0,)

    upgraded = open_sqlite_stores(path)

    assert [m.file_id for m in upgraded.tags.search_images(("会議",), channel_id="C1")] == ["F1"]
    upgraded.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT format FROM tag_words_format").fetchall() == [(2,)]
