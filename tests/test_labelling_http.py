"""The core loop end to end: signed events over HTTP into the real Bolt app, fakes for Slack and Rekognition."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
import urllib.request

from PIL import Image

from tests import slack_requests
from tests.conftest import both_runtimes, fixture_bytes, server_only, slack_rate_limits
from tests.slack_requests import file_share_event, next_ts

# Each behaviour below also holds on AWS Lambda, and within Slack's rate limits (tests/conftest.py).
pytestmark = [both_runtimes, slack_rate_limits()]


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
    assert post["text"] == "Cat 99.2% · Kitten 96.4% · Whiskers 80.1%"
    assert post["blocks"][0]["text"]["text"] == post["text"]
    # The JPEG was within Rekognition's limits, so it went as posted, byte for byte.
    [call] = aws_env.calls
    assert call.image == fixture_bytes("cat.jpg")
    assert (call.min_confidence, call.max_labels) == (75.0, 15)  # 5 shown once ancestors fold
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


def test_the_ack_does_not_wait_for_the_work(start_bot, fake_slack, aws_env):
    aws_env.gate = threading.Event()  # Rekognition answers only when the test says so
    bot = start_bot()

    answer = bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    assert answer.status == 200
    assert fake_slack.posts() == []
    aws_env.gate.set()
    fake_slack.wait_for_posts(1)


def test_an_event_the_store_cannot_record_is_not_acked_so_slack_retries_it(start_bot, fake_slack, monkeypatch):
    bot = start_bot()

    def store_down(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(bot.services.stores.queue, "enqueue_message", store_down)
    answer = bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    assert answer.status == 500
    monkeypatch.undo()
    assert bot.post_event(file_share_event("C0001", [cat_file(fake_slack, "F2")]), retry_num=1).status == 200
    fake_slack.wait_for_posts(1)


def test_a_message_with_several_images_gets_one_reply_covering_each(start_bot, fake_slack, aws_env):
    bot = start_bot()
    files = [
        cat_file(fake_slack),
        fake_slack.add_file("F_COFFEE", fixture_bytes("coffee.jpg"), "coffee.jpg", "image/jpeg", "jpg"),
        fake_slack.add_file("F_LOGO", fixture_bytes("logo_alpha.png"), "logo.png", "image/png", "png"),
    ]

    bot.post_event(file_share_event("C0001", files))

    [post] = fake_slack.wait_for_posts(1)
    lines = post["text"].split("\n")
    assert [line.split(":")[0] for line in lines] == ["*cat.jpg*", "*coffee.jpg*", "*logo.png*"]
    assert all("Cat 99.2%" in line for line in lines)
    assert len(aws_env.calls) == 3
    time.sleep(0.3)
    assert len(fake_slack.posts()) == 1


def test_retries_and_the_file_shared_twin_are_answered_once(start_bot, fake_slack, aws_env):
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)])

    first = bot.post_event(event, event_id="Ev1")
    retry = bot.post_event(event, event_id="Ev1", retry_num=1)
    twin = bot.post_event({"type": "file_shared", "file_id": "F_CAT", "user_id": "UALICE", "channel_id": "C0001"})

    assert (first.status, retry.status, twin.status) == (200, 200, 200)
    fake_slack.wait_for_posts(1)
    time.sleep(0.5)
    assert len(fake_slack.posts()) == 1
    assert len(aws_env.calls) == 1
    assert len(fake_slack.downloads()) == 1


def test_other_messages_and_files_are_acked_without_any_work(start_bot, fake_slack, aws_env):
    bot = start_bot()
    pdf = fake_slack.add_file("F_PDF", b"%PDF-1.7 ...", "report.pdf", "application/pdf", "pdf")

    answers = [
        bot.post_event(file_share_event("C0001", [pdf])),
        bot.post_event({"type": "message", "channel": "C0001", "user": "UALICE", "text": "hi", "ts": "1.2"}),
        bot.post_event({"type": "message", "subtype": "message_changed", "channel": "C0001", "ts": "1.3"}),
        bot.post_event({"type": "message", "subtype": "file_share", "channel": "C0001"}),  # malformed: no ts/files
    ]

    assert [a.status for a in answers] == [200, 200, 200, 200]
    time.sleep(0.5)
    assert fake_slack.downloads() == []
    assert fake_slack.posts() == []
    assert aws_env.calls == []


def test_the_bots_own_uploads_are_ignored(start_bot, fake_slack, aws_env):
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)], user="UBOT", bot_id="BBOT")

    assert bot.post_event(event).status == 200

    time.sleep(0.5)
    assert fake_slack.downloads() == []
    assert fake_slack.posts() == []


def test_a_corrupt_image_gets_a_short_explanation_and_the_next_one_works(start_bot, fake_slack, aws_env):
    bot = start_bot()
    truncated = fixture_bytes("cat.jpg")[:4000]
    broken = fake_slack.add_file("F_BROKEN", truncated, "broken.jpg", "image/jpeg", "jpg")

    bot.post_event(file_share_event("C0001", [broken]))
    [explanation] = fake_slack.wait_for_posts(1)
    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))
    second = fake_slack.wait_for_posts(2)[1]

    assert explanation["text"] == "This image looks damaged or incomplete, so I couldn't read it."
    assert "Traceback" not in explanation["text"]
    assert second["text"].startswith("Cat 99.2%")
    assert len(aws_env.calls) == 1  # nothing was sent to Rekognition for the broken file


def test_a_heic_photo_is_converted_before_rekognition_sees_it(start_bot, fake_slack, aws_env):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(fixture_bytes("cat.jpg"))).save(buffer, "HEIF")
    heic = fake_slack.add_file("F_HEIC", buffer.getvalue(), "IMG_0001.HEIC", "image/heic", "heic")
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [heic]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    [call] = aws_env.calls
    assert (call.format, call.size) == ("JPEG", (451, 300))


def test_an_svg_gets_an_explanation_without_being_downloaded(start_bot, fake_slack, aws_env):
    bot = start_bot()
    svg = fake_slack.add_file("F_SVG", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "icon.svg", "image/svg+xml", "svg")

    bot.post_event(file_share_event("C0001", [svg]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("I can't label SVG files")
    assert fake_slack.downloads() == []


def test_without_files_read_the_reply_says_so_and_rekognition_is_not_called(start_bot, fake_slack, aws_env, caplog):
    bot = start_bot()
    photo = cat_file(fake_slack, sign_in_page=True)

    bot.post_event(file_share_event("C0001", [photo]))

    [post] = fake_slack.wait_for_posts(1)
    assert "`files:read`" in post["text"]
    assert aws_env.calls == []
    assert any("files:read" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


def test_a_file_slack_sent_without_details_is_looked_up_with_files_info(start_bot, fake_slack, aws_env):
    bot = start_bot()
    cat_file(fake_slack)

    bot.post_event(file_share_event("C0001", [{"id": "F_CAT", "file_access": "check_file_info"}]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    assert [c.args["file"] for c in fake_slack.calls if c.method == "files.info"] == ["F_CAT"]


def test_when_no_label_reaches_the_threshold_the_reply_names_it(start_bot, fake_slack, aws_env):
    aws_env.labels = [{"Name": "Blur", "Confidence": 60.0, "Parents": []}]
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"] == "No label reached this channel's 75% threshold."


def test_rekognition_access_denied_becomes_a_clear_reply_and_one_log_line(start_bot, fake_slack, aws_env, caplog):
    aws_env.fail_next("AccessDeniedException", times=2)
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [cat_file(fake_slack, "F1")]))
    bot.post_event(file_share_event("C0002", [cat_file(fake_slack, "F2")]))

    posts = fake_slack.wait_for_posts(2)
    assert all(p["text"].startswith("I can't reach Amazon Rekognition") for p in posts)
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "AccessDeniedException" in r.getMessage()]
    assert len(errors) == 1


def test_slack_rate_limits_on_the_reply_are_waited_out(start_bot, fake_slack):
    fake_slack.fail_next("chat.postMessage", status=429, error="ratelimited", headers={"Retry-After": "1"})
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    attempts = [c for c in fake_slack.calls if c.method == "chat.postMessage"]
    assert len(attempts) == 2


def test_requests_without_a_valid_signature_are_refused_and_do_nothing(start_bot, fake_slack, aws_env):
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)])
    body = json.dumps(slack_requests.envelope(event))

    forged = slack_requests.post(
        bot.events_url, body, slack_requests.signed_headers(body, secret="not-the-secret"), "application/json"
    )
    stale = bot.post_event(event, timestamp=int(time.time()) - 600)
    unsigned = slack_requests.post(bot.events_url, body, {}, "application/json")

    assert (forged.status, stale.status, unsigned.status) == (401, 401, 401)
    time.sleep(0.3)
    assert fake_slack.downloads() == []
    assert bot.services.stores.queue.queue_stats().depth == 0


@server_only
def test_healthz_reports_the_queue(start_bot, fake_slack):
    bot = start_bot(start_workers=False)
    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    with urllib.request.urlopen(f"{bot.url}/healthz", timeout=5) as response:
        health = json.loads(response.read())

    assert response.status == 200
    assert (health["status"], health["labelling"]) == ("degraded", "stopped")  # no workers were started
    assert health["queue_depth"] == 1
    assert health["oldest_job_age_seconds"] >= 0

    bot.services.pool.start()
    fake_slack.wait_for_posts(1)
    with urllib.request.urlopen(f"{bot.url}/healthz", timeout=5) as response:
        health = json.loads(response.read())
    assert (health["status"], health["labelling"], health["queue_depth"]) == ("ok", "running", 0)


@server_only
def test_jobs_recorded_before_a_stop_are_resumed_at_the_next_start(start_bot, fake_slack, aws_env):
    stopped = start_bot(start_workers=False)
    event = file_share_event("C0001", [cat_file(fake_slack)])
    stopped.post_event(event)
    stopped.services.stop()
    assert fake_slack.posts() == []

    start_bot()  # same database file

    [post] = fake_slack.wait_for_posts(1)
    assert post["thread_ts"] == event["ts"]
    assert len(aws_env.calls) == 1


def test_no_secret_is_logged_even_at_debug(start_bot, fake_slack, aws_env, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    bot = start_bot()
    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))
    bot.command("status")
    fake_slack.wait_for_posts(1)

    logged = "\n".join(caplog.text.splitlines())
    assert len(caplog.records) > 20  # DEBUG really was on
    for secret in ("xoxb-test-token", slack_requests.SIGNING_SECRET, "test-aws-secret-key-0123456789"):
        assert secret not in logged
