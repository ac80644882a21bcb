"""The core loop end to end: signed events over HTTP into the real Bolt app, fakes for Slack and Rekognition."""

from __future__ import annotations

from tests.conftest import fixture_bytes
from tests.slack_requests import file_share_event, next_ts


def cat_file(fake_slack, file_id="F_CAT", **kw) -> dict:
    return fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg", **kw)


def test_a_posted_photo_gets_its_labels_in_its_thread(start_bot, fake_slack, aws_env):
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)])

    answer = bot.post_event(event)

    assert answer.status == 200
    [post] = fake_slack.wait_for_posts(1)
    assert post["channel"] == "C0001"
    assert post["thread_ts"] == event["ts"]
    assert post["text"] == "Cat 99.2% · Kitten 96.4% · Pet 95.0% · Animal 94.8% · Whiskers 80.1%"
    assert post["blocks"][0]["text"]["text"] == post["text"]
    # The JPEG was within Rekognition's limits, so it went as posted, byte for byte.
    [call] = aws_env.calls
    assert call.image == fixture_bytes("cat.jpg")
    assert (call.min_confidence, call.max_labels) == (75.0, 5)
    # The bot token went with the download, to the Slack host.
    [download] = fake_slack.downloads()
    assert download["authorization"] == "Bearer xoxb-test-token"


def test_a_photo_posted_in_a_thread_is_answered_in_that_thread(start_bot, fake_slack):
    bot = start_bot()
    parent = next_ts()
    event = file_share_event("C0001", [cat_file(fake_slack)], thread_ts=parent)

    bot.post_event(event)

    [post] = fake_slack.wait_for_posts(1)
    assert post["thread_ts"] == parent


def test_the_ack_is_fast_and_the_work_happens_after_it(start_bot, fake_slack, aws_env):
    aws_env.delay_seconds = 1.0  # Rekognition is slow; the ack must not wait for it
    bot = start_bot()

    answer = bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    assert answer.status == 200
    assert answer.seconds < 0.5
    assert fake_slack.posts() == []
    fake_slack.wait_for_posts(1)
