"""Text in screenshots end to end: signed events into the real Bolt app (and on AWS Lambda), the fake Rekognition's
DetectText, the reply's literal text line, the poster's one warning, the cache, and a DetectText failure."""

from __future__ import annotations

import io
import logging
import time

from PIL import Image

from bot.poster_warning import SAFE_COPY_NOTE
from tests.conftest import both_runtimes, fixture_bytes, slack_rate_limits
from tests.fakes.slack import dm_channel
from tests.pictures import ink_pixels, region, screenshot_with_lines
from tests.slack_requests import file_share_event

pytestmark = [both_runtimes, slack_rate_limits()]

SCREENSHOT_LABELS = [
    {"Name": "Text", "Confidence": 99.5, "Parents": []},
    {"Name": "Screenshot", "Confidence": 97.0, "Parents": [{"Name": "Text"}]},
]
SLACK_TOKEN = "xoxb-1234567890-abcdefghijkl"
SCREEN = [
    ("Deploy failed: connection refused", 99.0, (0.05, 0.10, 0.70, 0.05)),
    (f"token {SLACK_TOKEN} <!channel>", 97.0, (0.05, 0.30, 0.70, 0.05)),
    ("@here see <https://evil.example|this>", 96.0, (0.05, 0.50, 0.70, 0.05)),
]


def screenshot(fake_slack, file_id="F_SHOT"):
    return fake_slack.add_file(file_id, fixture_bytes("logo_alpha.png"), "shot.png", "image/png", "png")


def test_a_screenshot_is_answered_with_its_text_literally_its_secret_hidden_and_the_poster_warned_once(
    start_bot, fake_slack, aws_env, caplog
):
    caplog.set_level(logging.DEBUG)
    for noisy in ("botocore", "boto3", "urllib3"):  # as bot.logs.configure_logging keeps them: their DEBUG has bodies
        caplog.set_level(logging.INFO, logger=noisy)
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, SCREEN
    bot = start_bot()
    event = file_share_event("C0001", [screenshot(fake_slack)], user="UALICE")

    bot.post_event(event)

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"] == "Text 99.5% · Screenshot 97.0%"  # the notification carries no screenshot's words
    [text_line] = [b for b in post["blocks"] if b["type"] == "context" and ":memo:" in b["elements"][0]["text"]]
    assert text_line["elements"][0] == {
        "type": "mrkdwn",
        "verbatim": True,
        "text": ":memo: `Deploy failed: connection refused · token [hidden] &lt;!channel&gt; · "
        "@here see &lt;https://evil.example|this&gt;`",
    }
    [warning] = fake_slack.wait_for_calls("chat.postEphemeral")
    assert (warning["channel"], warning["user"], warning["thread_ts"]) == ("C0001", "UALICE", event["ts"])
    assert "a Slack token" in warning["text"] and SLACK_TOKEN not in warning["text"]
    assert [call.operation for call in aws_env.calls] == ["DetectLabels", "DetectText"]
    deadline = time.monotonic() + 5
    while " text=read " not in caplog.text and time.monotonic() < deadline:  # the job's line, logged after the post
        time.sleep(0.05)
    assert " text=read " in caplog.text and SLACK_TOKEN not in caplog.text

    again = file_share_event("C0001", [screenshot(fake_slack, "F_SHOT2")], user="UBOB")
    bot.post_event(again)  # the same bytes re-posted: both answers from the cache

    second = fake_slack.wait_for_posts(2)[1]
    assert second["blocks"][1] == text_line and len(aws_env.calls) == 2
    assert [w["user"] for w in fake_slack.wait_for_calls("chat.postEphemeral", 2)] == ["UALICE", "UBOB"]


def test_a_failed_detect_text_still_sends_the_labels_without_the_text_line(start_bot, fake_slack, aws_env):
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, SCREEN
    aws_env.fail_next("InternalServerError", 500, times=5, operation="DetectText")
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [screenshot(fake_slack)]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"] == "Text 99.5% · Screenshot 97.0%"
    assert not any(":memo:" in str(block) for block in post["blocks"])
    assert len(aws_env.calls_to("DetectText")) == 5  # botocore's retries, then the labels went out alone


def test_text_off_in_a_channel_and_on_for_a_photo(start_bot, fake_slack, aws_env):
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, SCREEN
    bot = start_bot()
    assert bot.command("text off").status == 200

    bot.post_event(file_share_event("C0001", [screenshot(fake_slack)]))
    fake_slack.wait_for_posts(2)  # the announcement, then the reply
    assert aws_env.calls_to("DetectText") == []

    aws_env.labels = [{"Name": "Cat", "Confidence": 99.0, "Parents": []}]
    assert bot.command("text on").status == 200
    cat = fake_slack.add_file("F_CAT", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0001", [cat]))
    reply = fake_slack.wait_for_posts(4)[-1]
    assert ":memo: `Deploy failed" in str(reply["blocks"]) and len(aws_env.calls_to("DetectText")) == 1


def find(bot, text: str) -> str:
    response = bot.command("find " + text)
    assert response.status == 200
    return response.json()["text"]


def test_a_screenshots_text_is_found_by_word_and_phrase_until_its_file_is_deleted(start_bot, fake_slack, aws_env):
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, SCREEN
    bot = start_bot()
    event = file_share_event("C0001", [screenshot(fake_slack)], user="UALICE")
    bot.post_event(event)
    fake_slack.wait_for_posts(1)

    by_word = find(bot, "refused")
    by_phrase = find(bot, '"connection refused"')

    assert f"archives/C0001/p{event['ts'].replace('.', '')}" in by_phrase
    assert "connection *refused*" in by_word and "*connection refused*" in by_phrase
    for answer in (by_word, by_phrase):
        assert answer.startswith("1 image matching")
        assert SLACK_TOKEN not in answer and "<!channel>" not in answer
    assert find(bot, '"refused connection"').startswith("No labelled images match")  # a phrase keeps its order
    assert find(bot, "xoxb").startswith("No labelled images match")  # a hidden secret is no word of the image's

    assert bot.post_event({"type": "file_deleted", "file_id": "F_SHOT", "event_ts": event["ts"]}).status == 200
    deadline = time.monotonic() + 5
    while not find(bot, "refused").startswith("No labelled images match") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert find(bot, "refused").startswith("No labelled images match")


def secret_screenshot(fake_slack, aws_env, file_id="F_SECRET"):
    """A screenshot whose second line shows a Slack token, the fake DetectText reading both lines where they are."""
    data, (plain, secret) = screenshot_with_lines("Deploy failed at 10:42", f"token {SLACK_TOKEN}")
    aws_env.labels = SCREENSHOT_LABELS
    aws_env.text_lines = [("Deploy failed at 10:42", 99.0, plain), (f"token {SLACK_TOKEN}", 98.0, secret)]
    return fake_slack.add_file(file_id, data, "deploy.jpg", "image/jpeg", "jpg"), plain, secret


def test_the_poster_gets_a_copy_with_the_secret_covered_in_a_dm_and_their_message_is_left_alone(
    start_bot, fake_slack, aws_env
):
    bot = start_bot()
    photo, plain, secret = secret_screenshot(fake_slack, aws_env)
    event = file_share_event("C0001", [photo], user="UALICE")

    bot.post_event(event)

    [warning] = fake_slack.wait_for_calls("chat.postEphemeral")
    assert warning["user"] == "UALICE" and SLACK_TOKEN not in warning["text"]
    [opened] = fake_slack.wait_for_calls("conversations.open")
    assert opened["users"] == "UALICE"
    [copy] = fake_slack.wait_for_uploads(1)
    assert (copy["channel"], copy["thread_ts"], copy["filename"]) == (dm_channel("UALICE"), None, "deploy-covered.jpg")
    assert copy["initial_comment"] == SAFE_COPY_NOTE and SLACK_TOKEN not in str(copy)
    picture = Image.open(io.BytesIO(copy["data"])).convert("RGB")
    assert ink_pixels(region(picture, secret, grow=8)) == 0  # not one pixel of the token's line
    assert ink_pixels(region(picture, plain)) > 500  # the rest as it was
    # labelbot never deletes or edits the poster's message: it has no call to do so.
    assert not [c for c in fake_slack.calls if c.method in ("chat.delete", "chat.update", "files.delete")]

    fake_slack.users["UBOB"] = {"locale": "ja-JP"}  # warned, and sent the copy, in the language of their Slack
    again = file_share_event("C0002", [secret_screenshot(fake_slack, aws_env, "F_AGAIN")[0]], user="UBOB")
    bot.post_event(again)  # the same bytes: every answer from the cache, and still a safe copy for its poster

    second = fake_slack.wait_for_uploads(2)[1]
    assert second["channel"] == dm_channel("UBOB") and second["data"] == copy["data"]
    assert second["initial_comment"].startswith("機密情報を隠した画像をお送りします。")
    assert second["title"] == "deploy（機密情報を非表示）"
    warned = fake_slack.wait_for_calls("chat.postEphemeral", 2)[1]
    assert warned["user"] == "UBOB" and warned["text"].startswith(
        ":warning: このスクリーンショットには「Slack のトークン」"
    )
    assert [call.operation for call in aws_env.calls] == ["DetectLabels", "DetectText"]


def test_without_im_write_the_warning_still_goes_out_and_the_log_says_why_there_is_no_copy(
    start_bot, fake_slack, aws_env, caplog
):
    caplog.set_level(logging.WARNING, logger="bot.poster_warning")
    fake_slack.scopes.discard("im:write")  # an app installed before the safe copy, not yet reinstalled
    bot = start_bot()
    photo, _plain, _secret = secret_screenshot(fake_slack, aws_env)

    bot.post_event(file_share_event("C0001", [photo], user="UALICE"))

    fake_slack.wait_for_calls("chat.postEphemeral")
    deadline = time.monotonic() + 5
    while "safe copy" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "sending the safe copy of file F_SECRET to its poster failed: missing_scope" in caplog.text
    assert [c.args["users"] for c in fake_slack.calls if c.method == "conversations.open"] == ["UALICE"]  # refused
    assert fake_slack.uploads() == [] and SLACK_TOKEN not in caplog.text
