"""Show where end to end: a reply whose labels have boxes carries the button; a signed block_actions press is acked,
then (after the ack, a lazy listener on Lambda) the image is downloaded again, drawn on and uploaded into the thread
with files_upload_v2 through the fake Slack's external upload flow. No Rekognition call; one picture per message."""

from __future__ import annotations

import io
import threading
import time

from PIL import Image

from bot.render import SHOW_WHERE_ACTION
from tests import slack_requests
from tests.conftest import both_runtimes, fixture_bytes, slack_rate_limits
from tests.pictures import ink_pixels, region, screenshot_with_lines
from tests.slack_requests import block_actions, file_share_event

pytestmark = [both_runtimes, slack_rate_limits()]

BOXED = [
    {
        "Name": "Cat",
        "Confidence": 99.2,
        "Parents": [{"Name": "Animal"}],
        "Instances": [{"BoundingBox": {"Left": 0.2, "Top": 0.1, "Width": 0.5, "Height": 0.8}, "Confidence": 98.7}],
    },
    {"Name": "Animal", "Confidence": 99.2, "Parents": [], "Instances": []},
]


def post_cat(bot, fake_slack, aws_env, file_id="F_CAT") -> tuple[dict, dict]:
    """Post the photo and wait for its reply; returns (the event, the reply as the fake Slack holds it)."""
    aws_env.labels = BOXED
    photo = fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
    event = file_share_event("C0001", [photo], user="UALICE")
    before = len(fake_slack.posts())
    assert bot.post_event(event).status == 200
    fake_slack.wait_for_posts(before + 1)
    reply = next(m for m in reversed(fake_slack.thread_messages) if m.get("thread_ts") == event["ts"])
    return event, reply


def press(bot, reply: dict, user: str) -> None:
    url = f"{bot.fake_slack.url}/api/response_url.{user}"
    payload = block_actions(reply, SHOW_WHERE_ACTION, user=user, response_url=url)
    answer = slack_requests.post_interaction(bot.events_url, payload)
    assert answer.status == 200  # acked at once; the picture comes after


def answers_to(fake_slack, user: str, count: int = 1, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = [c.args.get("text", "") for c in fake_slack.calls if c.method == f"response_url.{user}"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_a_press_posts_one_picture_of_the_boxes_in_the_thread_without_asking_rekognition_again(
    start_bot, fake_slack, aws_env
):
    bot = start_bot()
    event, reply = post_cat(bot, fake_slack, aws_env)
    [actions] = [b for b in reply["blocks"] if b["type"] == "actions"]
    assert actions["elements"][0]["value"] == event["ts"]
    calls_before, downloads_before = len(aws_env.calls), len(fake_slack.downloads())

    press(bot, reply, "UBOB")

    [upload] = fake_slack.wait_for_uploads(1)
    assert (upload["channel"], upload["thread_ts"], upload["title"]) == ("C0001", event["ts"], "Where: cat.jpg")
    picture = Image.open(io.BytesIO(upload["data"]))
    assert picture.format == "JPEG" and max(picture.size) <= 2048
    assert len(aws_env.calls) == calls_before  # the boxes were stored with the labels
    [download] = fake_slack.downloads()[downloads_before:]
    assert download["authorization"] == "Bearer xoxb-test-token"  # again from Slack, with the token, to Slack
    assert answers_to(fake_slack, "UBOB", timeout=0.3) == []  # the presser needs no answer: the picture is there

    press(bot, reply, "UCAROL")  # a second press: a link, nothing new in the thread
    [answer] = answers_to(fake_slack, "UCAROL")
    assert "already in this thread" in answer and upload["permalink"] in answer
    time.sleep(0.3)
    assert len(fake_slack.uploads()) == 1


def test_two_presses_at_once_give_one_picture(start_bot, fake_slack, aws_env):
    bot = start_bot(LABELBOT_LANGUAGE="ja")  # the channel's language: the picture's title (and captions) in it
    _, reply = post_cat(bot, fake_slack, aws_env)
    assert reply["blocks"][-2]["elements"][0]["text"]["text"] == "場所を表示"

    presses = [threading.Thread(target=press, args=(bot, reply, user)) for user in ("UBOB", "UCAROL")]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join()

    [upload] = fake_slack.wait_for_uploads(1)
    assert upload["title"] == "場所: cat.jpg"
    time.sleep(0.5)
    assert len(fake_slack.uploads()) == 1


def test_without_files_write_the_presser_is_told_what_to_fix_and_nothing_is_posted(start_bot, fake_slack, aws_env):
    bot = start_bot()
    _, reply = post_cat(bot, fake_slack, aws_env)
    fake_slack.scopes.discard("files:write")
    posts_before = len(fake_slack.posts())

    press(bot, reply, "UBOB")

    [answer] = answers_to(fake_slack, "UBOB")
    assert "`files:write`" in answer and "reinstall" in answer
    assert fake_slack.uploads() == [] and len(fake_slack.posts()) == posts_before
    fake_slack.scopes.add("files:write")  # an admin fixed it: the next press posts it
    press(bot, reply, "UBOB")
    fake_slack.wait_for_uploads(1)


def test_when_the_original_file_is_gone_the_presser_is_told_and_nothing_is_posted(start_bot, fake_slack, aws_env):
    bot = start_bot()
    _, reply = post_cat(bot, fake_slack, aws_env)
    del fake_slack.files["F_CAT"]  # deleted in Slack (the file_deleted event may come later, or not at all)
    fake_slack.users["UHANAKO"] = {"locale": "ja-JP"}

    press(bot, reply, "UBOB")

    [answer] = answers_to(fake_slack, "UBOB")
    assert "couldn't get *cat.jpg* from Slack again (This file is no longer on Slack.)" in answer
    press(bot, reply, "UHANAKO")  # told in the language of their Slack, the reason too
    [japanese] = answers_to(fake_slack, "UHANAKO")
    assert japanese.startswith(
        "*cat.jpg* を Slack から再取得できなかったため（このファイルはもう Slack 上にありません。）"
    )
    assert fake_slack.uploads() == []


def test_a_reply_without_boxes_has_no_button(start_bot, fake_slack, aws_env):
    bot = start_bot()
    photo = fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0001", [photo]))
    [reply] = fake_slack.wait_for_posts(1)
    assert [b["type"] for b in reply["blocks"]] == ["section", "context"]  # the fake's default labels have none


def test_the_press_is_acked_before_the_slow_download_and_a_refused_upload_is_explained(start_bot, fake_slack, aws_env):
    bot = start_bot()
    _, reply = post_cat(bot, fake_slack, aws_env)
    fake_slack.files["F_CAT"].delay_seconds = 3.5  # Slack's file host answers slowly this time
    fake_slack.max_upload_bytes = 1000  # and this workspace takes no file that large

    started = time.monotonic()
    press(bot, reply, "UBOB")
    acked_in = time.monotonic() - started

    assert acked_in < 3.0  # the ack didn't wait for the download (3.5 s) nor the drawing
    [answer] = answers_to(fake_slack, "UBOB")
    assert "larger than this workspace allows" in answer and fake_slack.uploads() == []


def test_a_line_that_held_a_secret_is_covered_in_the_picture_and_the_others_outlined(start_bot, fake_slack, aws_env):
    token = "xoxb-1234567890-abcdefghijkl"
    data, (plain, secret) = screenshot_with_lines("Deploy failed at 10:42", f"token {token}")
    aws_env.labels = [*BOXED, {"Name": "Text", "Confidence": 99.5, "Parents": []}]
    aws_env.text_lines = [("Deploy failed at 10:42", 99.0, plain), (f"token {token}", 98.0, secret)]
    bot = start_bot()
    photo = fake_slack.add_file("F_SHOT", data, "deploy.jpg", "image/jpeg", "jpg")
    event = file_share_event("C0001", [photo], user="UALICE")
    bot.post_event(event)
    fake_slack.wait_for_posts(1)
    fake_slack.wait_for_uploads(1)  # the poster's safe copy, in their DM
    reply = next(m for m in fake_slack.thread_messages if m.get("thread_ts") == event["ts"])

    press(bot, reply, "UBOB")

    where = fake_slack.wait_for_uploads(2)[1]
    assert (where["channel"], where["thread_ts"]) == ("C0001", event["ts"])
    picture = Image.open(io.BytesIO(where["data"])).convert("RGB")
    assert ink_pixels(region(picture, secret, grow=8)) == 0  # nothing of the token's line is left to read
    assert ink_pixels(region(picture, plain)) > 500
    assert token not in str(where)


def message_deleted(channel: str, ts: str) -> dict:
    event = {"type": "message", "subtype": "message_deleted", "channel": channel, "hidden": True}
    return {**event, "deleted_ts": ts, "previous_message": {"ts": ts, "user": "UALICE"}}


def shown_where(bot, fake_slack, aws_env, file_id="F_CAT") -> tuple[dict, dict]:
    """A posted cat and its Show where picture; returns (the event, the picture's upload)."""
    event, reply = post_cat(bot, fake_slack, aws_env, file_id)
    before = len(fake_slack.uploads())
    press(bot, reply, "UBOB")
    return event, fake_slack.wait_for_uploads(before + 1)[-1]


def wait_for_deletions(fake_slack, count: int, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(fake_slack.deleted_files) < count:
        assert time.monotonic() < deadline, f"expected {count} files.delete, got {fake_slack.deleted_files}"
        time.sleep(0.02)
    return list(fake_slack.deleted_files)


def test_deleting_the_image_or_its_message_deletes_its_show_where_picture(start_bot, fake_slack, aws_env):
    bot = start_bot()
    _, kept_picture = shown_where(bot, fake_slack, aws_env, "F_KEPT")
    deleted, picture = shown_where(bot, fake_slack, aws_env, "F_GONE")
    _, file_picture = shown_where(bot, fake_slack, aws_env, "F_FILE")

    assert bot.post_event(message_deleted("C0001", deleted["ts"])).status == 200
    assert wait_for_deletions(fake_slack, 1) == [picture["id"]]  # the sweep runs at once after a deletion
    assert bot.post_event({"type": "file_deleted", "file_id": "F_FILE", "event_ts": "1.0"}).status == 200
    assert wait_for_deletions(fake_slack, 2) == [picture["id"], file_picture["id"]]

    # Gone from Slack: neither downloadable nor known to files.info; the kept image's picture is untouched.
    assert picture["id"] not in fake_slack.file_objects and file_picture["id"] not in fake_slack.file_objects
    assert kept_picture["id"] in fake_slack.file_objects
    if getattr(bot, "fake_lambda", None) is not None:
        # The deletion's own invocation records the file deleted just after Slack answers: a sweep overlapping it
        # would try the file again (and be told file_deleted, which counts as done).
        bot.fake_lambda.wait_idle()
    bot.sweep()
    time.sleep(0.3)
    assert len(fake_slack.calls_to("files.delete")) == 2  # done once each, its record dropped
    # labelbot deleted only its own uploads: never the poster's files or messages.
    assert {c["file"] for c in fake_slack.calls_to("files.delete")} == {picture["id"], file_picture["id"]}


def test_a_picture_whose_deletion_fails_is_deleted_by_a_later_sweep_and_one_gone_already_is_not_an_error(
    start_bot, fake_slack, aws_env, caplog
):
    bot = start_bot()
    first, picture = shown_where(bot, fake_slack, aws_env, "F_ONE")
    second, gone_already = shown_where(bot, fake_slack, aws_env, "F_TWO")
    fake_slack.fail_next("files.delete", error="internal_error")  # Slack's hiccup at the first try

    bot.post_event(message_deleted("C0001", first["ts"]))

    deadline = time.monotonic() + 10
    while "will retry" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    assert f"deleting the Show where picture {picture['id']} failed: internal_error; will retry" in caplog.text
    bot.sweep()  # the next sweep (every 30 s, or the scheduled one on Lambda)
    assert wait_for_deletions(fake_slack, 1) == [picture["id"]]

    del fake_slack.file_objects[gone_already["id"]]  # someone deleted the picture by hand: file_not_found
    bot.post_event(message_deleted("C0001", second["ts"]))
    deadline = time.monotonic() + 10
    while gone_already["id"] not in {c.args.get("file") for c in fake_slack.calls} and time.monotonic() < deadline:
        time.sleep(0.02)
    # Settled once Slack's answer (file_not_found: gone, so done) is recorded, not when the call arrived: a sweep in
    # between would rightly try it again.
    while bot.services.stores.pictures.picture_files_to_delete() and time.monotonic() < deadline:
        time.sleep(0.02)
    tried = len(fake_slack.calls)
    bot.sweep()
    if getattr(bot, "fake_lambda", None) is not None:
        bot.fake_lambda.wait_idle()
    time.sleep(0.3)
    assert [c for c in fake_slack.calls[tried:] if c.method == "files.delete"] == []  # done: not tried again
    assert "could not delete" not in caplog.text
