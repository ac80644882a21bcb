"""Japanese screenshots end to end with the real local text reader (bot/local_text.py): signed events into the real
Bolt app (and on AWS Lambda), a screenshot rendered in Noto Sans JP on the fake Slack's file host, the reply's text
line, the secret hidden, no DetectText call, the search index, the cache, and /labels status."""

from __future__ import annotations

import io
import logging

from PIL import Image

from tests.conftest import both_runtimes, server_only, slack_rate_limits
from tests.pictures import rendered_screenshot
from tests.slack_requests import file_share_event

pytestmark = [both_runtimes, slack_rate_limits()]

SCREENSHOT_LABELS = [
    {"Name": "Text", "Confidence": 99.5, "Parents": []},
    {"Name": "Screenshot", "Confidence": 97.0, "Parents": [{"Name": "Text"}]},
]
# What DetectText would say, were it asked: the test fails if it is
LATIN_FRAGMENTS = [("E1023", 99.0, (0.05, 0.10, 0.20, 0.05))]
MEETING = "明日の会議は午後三時からです"
PASSWORD = "パスワード: hunter22"
DEPLOY = "Deploy failed: exit code 2"


def text_line(post: dict) -> str:
    [line] = [b for b in post["blocks"] if b["type"] == "context" and ":memo:" in b["elements"][0]["text"]]
    return line["elements"][0]["text"]


def local_reads(caplog) -> int:
    return sum(1 for record in caplog.records if record.name == "bot.local_text" and "locally" in record.getMessage())


def test_a_japanese_channels_screenshot_is_read_here_hidden_searchable_and_read_once(
    start_bot, fake_slack, aws_env, caplog
):
    caplog.set_level(logging.DEBUG, logger="bot.local_text")
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, LATIN_FRAGMENTS
    shot = rendered_screenshot(MEETING, PASSWORD, DEPLOY)
    bot = start_bot(LABELBOT_LANGUAGE="ja")
    event = file_share_event("C0001", [fake_slack.add_file("F_JA", shot, "shot.jpg", "image/jpeg", "jpg")])

    bot.post_event(event)

    [post] = fake_slack.wait_for_posts(1)
    line = text_line(post)
    assert MEETING in line and DEPLOY in line and "hunter22" not in line
    assert line.index(MEETING) < line.index("パスワード") < line.index(DEPLOY)
    assert [call.operation for call in aws_env.calls] == ["DetectLabels"]  # no DetectText: no AWS call for text
    found = bot.command("find 会議").json()["text"]
    assert f"p{event['ts'].replace('.', '')}" in found and "*会議*" in found
    assert "p" + event["ts"].replace(".", "") not in bot.command('find "三時午後"').json()["text"]
    assert local_reads(caplog) == 1

    again = file_share_event("C0001", [fake_slack.add_file("F_JA2", shot, "shot.jpg", "image/jpeg", "jpg")])
    bot.post_event(again)  # the same bytes re-posted: the labels and the text from the caches

    second = fake_slack.wait_for_posts(2)[1]
    assert text_line(second) == line
    assert local_reads(caplog) == 1 and len(aws_env.calls) == 1


def test_with_the_local_engine_everywhere_an_english_channel_asks_aws_nothing_for_text(start_bot, fake_slack, aws_env):
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, LATIN_FRAGMENTS
    bot = start_bot(LABELBOT_TEXT_ENGINE="local")
    shot = rendered_screenshot(DEPLOY, "Retry in 30 seconds")

    bot.post_event(file_share_event("C0001", [fake_slack.add_file("F_EN", shot, "shot.jpg", "image/jpeg", "jpg")]))

    [post] = fake_slack.wait_for_posts(1)
    assert text_line(post) == f":memo: `{DEPLOY} · Retry in 30 seconds`"
    assert [call.operation for call in aws_env.calls] == ["DetectLabels"]
    status = bot.command("status").json()["text"]
    assert "• text read by labelbot itself, Japanese included (LABELBOT_TEXT_ENGINE local)" in status


@server_only  # the pipeline's, the same on Lambda; six strips' reads are the suite's CPU
def test_a_tall_japanese_capture_is_downloaded_whole_and_read_from_the_top(start_bot, fake_slack, aws_env):
    """1080x20000: Slack's thumb_1024 is 55 px wide and the prepared image 111x2048, so the original is downloaded
    and its first 9,000 rows read from a copy of their own, in strips; the boxes are the whole image's."""
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, LATIN_FRAGMENTS
    shot = rendered_screenshot(MEETING, size=(1080, 20000), mode="L")
    picture = Image.open(io.BytesIO(shot))
    thumb = io.BytesIO()
    picture.resize((55, 1024)).save(thumb, "JPEG")
    bot = start_bot(LABELBOT_LANGUAGE="ja")
    tall = fake_slack.add_file(
        "F_TALL", shot, "chat.jpg", "image/jpeg", "jpg", thumbs={1024: (thumb.getvalue(), 55, 1024)}
    )

    bot.post_event(file_share_event("C0001", [tall]))

    [post] = fake_slack.wait_for_posts(1)
    assert text_line(post) == f":memo: `{MEETING}`"
    assert fake_slack.thumb_file("F_TALL", 1024).downloads == []


def test_a_crashed_local_read_still_sends_the_labels_without_the_text_line(
    start_bot, fake_slack, aws_env, monkeypatch, caplog
):
    def crash(self, image):
        raise RuntimeError("onnxruntime: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION")

    monkeypatch.setattr("bot.local_text.LocalTextReader._read", crash)
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, LATIN_FRAGMENTS
    bot = start_bot(LABELBOT_LANGUAGE="ja")
    shot = rendered_screenshot(MEETING)

    bot.post_event(file_share_event("C0001", [fake_slack.add_file("F_JA", shot, "shot.jpg", "image/jpeg", "jpg")]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"] == "文字 99.5% · スクリーンショット 97.0%"
    assert ":memo:" not in str(post["blocks"]) and [call.operation for call in aws_env.calls] == ["DetectLabels"]
    assert "The local text reader failed, so the reply goes without the text" in caplog.text


@server_only  # the pipeline's, the same on Lambda
def test_a_tall_capture_whose_original_fails_is_labelled_from_its_thumbnail(start_bot, fake_slack, aws_env):
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, LATIN_FRAGMENTS
    shot = rendered_screenshot(MEETING, size=(1080, 20000), mode="L")
    thumb = io.BytesIO()
    Image.open(io.BytesIO(shot)).resize((55, 1024)).save(thumb, "JPEG")
    bot = start_bot(LABELBOT_LANGUAGE="ja")
    tall = fake_slack.add_file(
        "F_TALL", shot, "chat.jpg", "image/jpeg", "jpg", status=500, thumbs={1024: (thumb.getvalue(), 55, 1024)}
    )

    bot.post_event(file_share_event("C0001", [tall]))

    [post] = fake_slack.wait_for_posts(1)
    assert (
        post["text"] == "文字 99.5% · スクリーンショット 97.0%"
    )  # labelled, from the thumbnail: no text to read there
    assert len(fake_slack.thumb_file("F_TALL", 1024).downloads) == 1
