"""The channel's language, through signed requests into the real app on both runtimes: /labels language sets it
(under the same admin rule, with the same visible line as every setting), /labels status shows it, and the replies
in that channel are then in it, label names included; LABELBOT_LANGUAGE is every other channel's."""

from __future__ import annotations

import time

from slack_sdk import WebClient

from bot.people import CACHE_SECONDS, People, Person
from tests.conftest import BOT_TOKEN, both_runtimes
from tests.slack_requests import file_share_event
from tests.test_labels_command import answer, channel_lines, photo

pytestmark = both_runtimes

JAPANESE_CAT = "猫 99.2% · 子猫 96.4% · ひげ 80.1%"
ENGLISH_CAT = "Cat 99.2% · Kitten 96.4% · Whiskers 80.1%"


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

    assert "• 言語: 日本語（デフォルト）" in answer(bot, "status")  # to UALICE, whose Slack says no language
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
    # Two commands, two lines (on Lambda each is posted by its own invocation: in either order)
    assert sorted(channel_lines(fake_slack, 2)) == [
        "<@UALICE> さんがしきい値を 90% に設定しました。",
        "<@UALICE> さんがテキストの読み取りを on に設定しました（すべての画像のテキストを読み取ります）。",
    ]


def test_with_labelbot_admins_only_they_change_the_language(start_bot, fake_slack):
    bot = start_bot(LABELBOT_ADMINS="UBOSS")

    assert "Only labelbot's admins" in answer(bot, "language ja", user="UALICE")
    assert "• language English (default)" in answer(bot, "status")
    assert answer(bot, "language ja", user="UBOSS").startswith("Done")


def test_labels_answers_each_person_in_the_language_of_their_slack(start_bot, fake_slack):
    fake_slack.users["UHANAKO"] = {"locale": "ja-JP"}
    fake_slack.users["UALICE"] = {"locale": "en-US"}
    fake_slack.users["UPIERRE"] = {"locale": "fr-FR"}  # a language labelbot doesn't speak: the workspace's
    bot = start_bot()

    help_ja = answer(bot, "help", user="UHANAKO")
    assert help_ja.startswith("*/labels* で、このチャンネルでの画像のラベル付けを設定できます。")
    assert "/labels threshold 90" in help_ja and "確信度が 90% 以上" in help_ja
    assert answer(bot, "threshold 101", user="UHANAKO").startswith("しきい値は 0〜100 のパーセントで指定してください")
    assert answer(bot, "threshhold 90", user="UHANAKO").startswith(
        "`threshhold` は認識できないコマンドです。 `/labels threshold` のことですか？"
    )
    status = answer(bot, "status", user="UHANAKO").splitlines()
    assert status[:3] == [
        "このチャンネルのラベル付け設定:",
        "• 自動ラベル付け: オン（デフォルト）",
        "• しきい値: 75%（デフォルト）",
    ]
    assert status[-1] == "• あなたの画像: ラベルを付ける（オプトアウトするには `/labels me off`）"
    assert answer(bot, "max 3", user="UHANAKO") == "1 枚の画像に表示するラベルを最大 3 個に設定しました。"
    # The channel (English) is told in its language, whoever made the change.
    assert channel_lines(fake_slack, 1) == ["<@UHANAKO> set the number of labels per image to at most 3."]

    tags = answer(bot, "tags", user="UHANAKO")
    assert tags.startswith("`/labels tags on` にすると、") and ":dog: 犬 :cat: 猫" in tags
    assert answer(bot, "status", user="UALICE").startswith("Labelling in this channel:")
    assert answer(bot, "status", user="UPIERRE").startswith("Labelling in this channel:")
    answer(bot, "status", user="UHANAKO")
    asked = [c.args for c in fake_slack.calls if c.method == "users.info"]
    assert sorted(a["user"] for a in asked) == ["UALICE", "UHANAKO", "UPIERRE"]  # once each: kept ten minutes
    assert all(str(a["include_locale"]).lower() in ("true", "1") for a in asked)  # as slack_sdk sends True


def test_a_person_slack_says_nothing_of_in_time_gets_the_workspaces_language(start_bot, fake_slack):
    fake_slack.users["UHANAKO"] = {"locale": "ja-JP"}
    fake_slack.fail_next("users.info", status=429, error="ratelimited", headers={"Retry-After": "5"})
    bot = start_bot(LABELBOT_LANGUAGE="ja")
    fake_slack.users["UALICE"] = {"locale": "en-US"}

    response = bot.command("status", user="UALICE")

    assert response.seconds < 1.5
    assert response.json()["text"].startswith("このチャンネルのラベル付け設定:")  # the workspace's: Japanese
    assert answer(bot, "status", user="UALICE").startswith("Labelling in this channel:")  # asked again: English


def test_what_slack_says_of_a_person_is_kept_ten_minutes_and_a_failure_not_at_all(fake_slack):
    fake_slack.users["UHANAKO"] = {"locale": "ja-JP", "is_admin": True}
    clock = [1000.0]
    people = People(WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url), clock=lambda: clock[0])

    assert people.person("UHANAKO") == Person(admin=True, language="ja")
    fake_slack.users["UHANAKO"] = {"locale": "en-US"}
    clock[0] += CACHE_SECONDS - 1
    assert people.person("UHANAKO").language == "ja"  # kept
    clock[0] += 2
    assert people.person("UHANAKO") == Person(admin=False, language="en")  # asked again, demoted

    fake_slack.fail_next("users.info", status=500, error="internal_error")
    assert people.person("UNEW") is None  # Slack couldn't say: nothing kept
    assert people.person("UNEW") == Person(admin=False, language=None)
    fake_slack.fail_next("users.info", error="user_not_found")
    assert people.person("UGONE") == Person(admin=False, language=None)
    assert len([c for c in fake_slack.calls if c.method == "users.info"]) == 5
