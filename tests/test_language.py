"""The channel's language, through signed requests into the real app on both runtimes: /labels language sets it
(under the same admin rule, with the same visible line as every setting), /labels status shows it, and the replies
in that channel are then in it, label names included; LABELBOT_LANGUAGE is every other channel's."""

from __future__ import annotations

import time

from tests.conftest import both_runtimes
from tests.slack_requests import file_share_event
from tests.test_labels_command import answer, channel_lines, photo

pytestmark = both_runtimes

JAPANESE_CAT = "猫 99.2% · 子猫 96.4% · ペット 95.0% · 動物 94.8% · ひげ 80.1%"
ENGLISH_CAT = "Cat 99.2% · Kitten 96.4% · Pet 95.0% · Animal 94.8% · Whiskers 80.1%"


def reply_to(bot, fake_slack, channel: str, file_id: str) -> dict:
    """Post a cat in the channel; the bot's reply in its thread."""
    event = file_share_event(channel, [photo(fake_slack, file_id)])
    bot.post_event(event)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        replies = [p for p in fake_slack.posts() if p.get("thread_ts") == event["ts"]]
        if replies:
            return replies[0]
        time.sleep(0.02)
    raise AssertionError(f"no reply to {file_id}: {fake_slack.posts()}")


def test_a_channel_set_to_japanese_gets_its_replies_in_japanese_until_set_back(start_bot, fake_slack):
    bot = start_bot()

    assert answer(bot, "language ja") == "Done: set this channel's language to 日本語."
    # The channel is told in its language, now Japanese; whoever typed it, in the workspace's.
    assert channel_lines(fake_slack, 1) == ["<@UALICE> さんがこのチャンネルの言語を「日本語」に設定しました。"]
    assert "• language 日本語 (set for this channel)" in answer(bot, "status")
    assert "• language English (default)" in answer(bot, "status", channel="C0002")

    japanese = reply_to(bot, fake_slack, "C0001", "F1")
    assert japanese["text"] == JAPANESE_CAT
    assert japanese["blocks"][-1]["elements"][0]["text"].startswith("Amazon Rekognition · しきい値 75%")
    assert reply_to(bot, fake_slack, "C0002", "F2")["text"] == ENGLISH_CAT  # another channel: the workspace's

    assert answer(bot, "language default") == "Done: set this channel's language back to the workspace's: English."
    assert reply_to(bot, fake_slack, "C0001", "F3")["text"] == ENGLISH_CAT


def test_labelbot_language_is_every_channels_language_until_one_sets_its_own(start_bot, fake_slack):
    bot = start_bot(LABELBOT_LANGUAGE="ja")

    assert "• language 日本語 (default)" in answer(bot, "status")
    assert reply_to(bot, fake_slack, "C0001", "F1")["text"] == JAPANESE_CAT

    # To the person who typed it, the workspace's language; to the channel, the channel's (now English).
    assert answer(bot, "language en") == "このチャンネルの言語を「English」に設定しました。"
    assert channel_lines(fake_slack, 1) == ["<@UALICE> set this channel's language to English."]
    assert reply_to(bot, fake_slack, "C0001", "F2")["text"] == ENGLISH_CAT
    assert reply_to(bot, fake_slack, "C0002", "F3")["text"] == JAPANESE_CAT


def test_a_change_in_a_japanese_channel_is_announced_there_in_japanese(start_bot, fake_slack):
    bot = start_bot(LABELBOT_LANGUAGE="ja")

    assert answer(bot, "threshold 90") == "しきい値を 90% に設定しました。"
    assert answer(bot, "text on") == "テキストの読み取りを on に設定しました（すべての画像のテキストを読み取ります）。"
    assert answer(bot, "moderation on").startswith("モデレーションには保留した画像を確認する人が必要ですが")
    assert channel_lines(fake_slack, 2) == [
        "<@UALICE> さんがしきい値を 90% に設定しました。",
        "<@UALICE> さんがテキストの読み取りを on に設定しました（すべての画像のテキストを読み取ります）。",
    ]


def test_with_labelbot_admins_only_they_change_the_language(start_bot, fake_slack):
    bot = start_bot(LABELBOT_ADMINS="UBOSS")

    assert "Only labelbot's admins" in answer(bot, "language ja", user="UALICE")
    assert "• language English (default)" in answer(bot, "status")
    assert answer(bot, "language ja", user="UBOSS").startswith("Done")
