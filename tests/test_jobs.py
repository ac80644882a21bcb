"""The worker pool: wakes on notify, sweeps up unposted replies, gives up on a file that keeps stopping the bot."""

from __future__ import annotations

import threading

import pytest

from bot.jobs import WorkerPool
from bot.pipeline import GAVE_UP
from bot.render import ImageResult
from bot.store.sqlite import open_sqlite_stores
from tests.conftest import fixture_bytes
from tests.slack_requests import file_share_event


def test_replies_whose_post_failed_are_swept_up_without_a_restart(make_store):
    store = make_store()
    store.queue.enqueue_message("C1", "1.0", "1.0", [{"id": "F1"}])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F1", "a.jpg"))
    posted = threading.Event()
    attempts = []

    def post_reply(channel_id: str, message_ts: str) -> None:
        attempts.append((channel_id, message_ts))
        claimed = store.replies.claim_reply(channel_id, message_ts)
        if len(attempts) == 1:
            store.replies.release_reply(channel_id, message_ts)  # Slack said internal_error
        elif claimed:
            store.replies.mark_replied(channel_id, message_ts, "9.9")
            posted.set()

    pool = WorkerPool(store.queue, store.replies, lambda job: None, post_reply, workers=1, sweep_seconds=0.05)
    pool.start()
    try:
        assert posted.wait(5)
    finally:
        pool.stop()
    assert store.replies.messages_ready_to_reply() == []


def test_a_pool_cannot_be_started_twice(tmp_path):
    store = open_sqlite_stores(tmp_path / "db")
    pool = WorkerPool(store.queue, store.replies, lambda job: None, lambda c, m: None, workers=1)
    pool.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            pool.start()
    finally:
        pool.stop()


def test_a_file_interrupted_three_times_gets_an_explanation_not_a_fourth_try(start_bot, fake_slack, aws_env):
    photo = fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
    bot = start_bot(start_workers=False)
    bot.post_event(file_share_event("C0001", [photo]))
    store = bot.services.stores
    for _ in range(3):  # three processes died while working on it
        store.queue.claim_job()
        store.queue.requeue_interrupted()
        store.replies.requeue_interrupted()

    bot.services.start()

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"] == GAVE_UP
    assert aws_env.calls == []
    assert fake_slack.downloads() == []
