"""The SQLite store: durable jobs, dedupe, the one-reply claim, resume, settings."""

from __future__ import annotations

import os
import stat

import pytest

from bot.config import ConfigError
from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides
from bot.store.sqlite import SqliteStore

FILES = [{"id": "F1", "name": "a.jpg"}, {"id": "F2", "name": "b.jpg"}]


def test_the_database_file_is_private_to_its_owner(tmp_path):
    path = tmp_path / "labelbot.sqlite3"
    SqliteStore(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_each_channel_message_file_is_one_job_however_often_it_is_recorded(tmp_path):
    store = SqliteStore(tmp_path / "db")
    assert store.enqueue_message("C1", "1.0", "1.0", FILES) == 2
    assert store.enqueue_message("C1", "1.0", "1.0", FILES) == 0
    assert store.enqueue_message("C2", "1.0", "1.0", FILES[:1]) == 1
    assert store.queue_stats().depth == 3


def test_jobs_are_claimed_once_in_order(tmp_path):
    store = SqliteStore(tmp_path / "db")
    store.enqueue_message("C1", "1.0", "0.5", FILES)
    first, second = store.claim_job(), store.claim_job()
    assert (first.file["id"], second.file["id"]) == ("F1", "F2")
    assert first.thread_ts == "0.5"
    assert first.attempts == 1
    assert store.claim_job() is None


def test_the_reply_is_claimed_only_when_every_file_is_done_and_only_once(tmp_path):
    store = SqliteStore(tmp_path / "db")
    store.enqueue_message("C1", "1.0", "1.0", FILES)
    first, second = store.claim_job(), store.claim_job()
    store.finish_job(second.id, ImageResult("F2", "b.jpg", error="broken"))
    assert store.claim_reply("C1", "1.0") is None
    store.finish_job(first.id, ImageResult("F1", "a.jpg", labels=(Label("Cat", 99.0, ("Animal",)),)))

    thread_ts, results = store.claim_reply("C1", "1.0")

    assert thread_ts == "1.0"
    assert [r.file_id for r in results] == ["F1", "F2"]  # the order they were posted in
    assert results[0].labels == (Label("Cat", 99.0, ("Animal",)),)
    assert results[1].error == "broken"
    assert store.claim_reply("C1", "1.0") is None


def test_after_a_restart_running_jobs_are_requeued_and_unsent_replies_found(tmp_path):
    path = tmp_path / "db"
    store = SqliteStore(path)
    store.enqueue_message("C1", "1.0", "1.0", FILES[:1])
    store.enqueue_message("C1", "2.0", "2.0", FILES[:1])
    done = store.claim_job()
    store.finish_job(done.id, ImageResult("F1", "a.jpg"))
    store.claim_reply("C1", "1.0")  # claimed, then the process died before posting
    store.claim_job()  # running when the process died
    store.close()

    reopened = SqliteStore(path)
    assert reopened.requeue_interrupted() == 1
    assert reopened.messages_ready_to_reply() == [("C1", "1.0")]
    job = reopened.claim_job()
    assert (job.message_ts, job.attempts) == ("2.0", 2)


def test_channel_settings_persist_and_stay_separate(tmp_path):
    path = tmp_path / "db"
    store = SqliteStore(path)
    store.save_overrides("C1", ChannelOverrides(threshold=90.0))
    store.save_overrides("C1", ChannelOverrides(threshold=90.0, max_labels=3))
    store.close()

    reopened = SqliteStore(path)
    assert reopened.get_overrides("C1") == ChannelOverrides(threshold=90.0, max_labels=3)
    assert reopened.get_overrides("C2") == ChannelOverrides()


def test_a_second_process_cannot_open_the_same_database(tmp_path):
    path = tmp_path / "db"
    first = SqliteStore(path)
    with pytest.raises(ConfigError, match="is in use by another labelbot process"):
        SqliteStore(path, lock_wait_seconds=0.3)
    first.close()
    SqliteStore(path, lock_wait_seconds=0.3).close()  # free again once the first has stopped


def test_a_reply_whose_post_may_have_landed_is_checked_in_the_thread_next_time(tmp_path):
    store = SqliteStore(tmp_path / "db")
    store.enqueue_message("C1", "1.0", "1.0", FILES[:1])
    store.finish_job(store.claim_job().id, ImageResult("F1", "a.jpg"))
    store.claim_reply("C1", "1.0")
    store.release_reply("C1", "1.0")  # Slack answered with an error: nothing was posted
    assert store.reply_interrupted("C1", "1.0") is False

    store.claim_reply("C1", "1.0")
    store.release_reply("C1", "1.0", maybe_posted=True)  # the connection dropped: it may have been posted

    assert store.reply_interrupted("C1", "1.0") is True
    assert store.messages_ready_to_reply() == [("C1", "1.0")]
