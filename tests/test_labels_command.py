"""/labels through signed slash-command requests: ephemeral answers, per-channel settings that persist,
a visible line in the channel for every change, and an optional admin list."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace

import pytest

from bot.permissions import UNCHECKED
from tests.conftest import both_runtimes, fixture_bytes
from tests.slack_requests import file_share_event

pytestmark = both_runtimes  # each behaviour below also holds on AWS Lambda (tests/conftest.py)


def answer(bot, text: str, channel: str = "C0001", user: str = "UALICE") -> str:
    response = bot.command(text, channel=channel, user=user)
    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body["text"]


def photo(fake_slack, file_id: str = "F1") -> dict:
    return fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")


def channel_lines(fake_slack, count: int) -> list[str]:
    """The visible (non-thread) lines the bot posted in channels."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [p["text"] for p in fake_slack.posts() if "thread_ts" not in p]
        if len(lines) >= count:
            return lines
        time.sleep(0.02)
    raise AssertionError(f"expected {count} channel lines, got {fake_slack.posts()}")


@pytest.mark.parametrize("text", ["", "help", "HELP"])
def test_help_lists_every_subcommand_with_an_example(start_bot, text):
    reply = answer(start_bot(), text)
    for example in (
        "/labels on",
        "/labels off",
        "/labels threshold 90",
        "/labels max 3",
        "/labels tags on",
        "/labels tags",
        "/labels include Dog, Cat",
        "/labels include clear",
        "/labels exclude Person",
        "/labels exclude clear",
        "/labels moderation on",
        "/labels moderation off",
        "/labels moderation threshold 80",
        "/labels moderation ignore Alcohol, Swimwear or Underwear",
        "/labels moderation ignore none",
        "/labels text auto",
        "/labels language ja",
        "/labels find whiteboard in #design since 7d",
        "/labels status",
        "/labels reset",
        "/labels help",
        "/labels me off",
        "#nolabel",
    ):
        assert example in reply


def test_status_shows_defaults_then_what_the_channel_set(start_bot):
    bot = start_bot()
    assert answer(bot, "status") == (
        "Labelling in this channel:\n"
        "• automatic labelling on (default)\n"
        "• threshold 75% (default)\n"
        "• at most 5 labels per image (default)\n"
        "• emoji tags off (default)\n"
        "• only these labels: none (default)\n"
        "• never these labels: none (default)\n"
        "• text reading auto (default)\n"
        "• text read by Amazon Rekognition, Latin script only (LABELBOT_TEXT_ENGINE auto)\n"
        "• language English (default)\n"
        "• moderation off (default)\n"
        "• moderation threshold 60% (default)\n"
        "• moderation ignores: none (default)\n"
        "• moderation notices: nowhere yet, so moderation can't be turned on "
        "(it needs LABELBOT_MODERATION_CHANNEL or LABELBOT_ADMINS)\n"
        "• your own images: labelled (`/labels me off` to opt out)"
    )

    assert answer(bot, "threshold 90") == "Done: set the threshold to 90%."
    assert answer(bot, "max 3") == "Done: set the number of labels per image to at most 3."
    assert answer(bot, "tags on") == "Done: turned emoji tags on in this channel."
    assert answer(bot, "exclude Person, Human") == "Done: set the labels to exclude to `Person`, `Human`."
    assert answer(bot, "exclude person, Carpet") == "Done: set the labels to exclude to `Person`, `Human`, `Carpet`."
    assert answer(bot, "text on") == "Done: set text reading to on: I read the text in every image."

    assert answer(bot, "status") == (
        "Labelling in this channel:\n"
        "• automatic labelling on (default)\n"
        "• threshold 90% (set for this channel)\n"
        "• at most 3 labels per image (set for this channel)\n"
        "• emoji tags on (set for this channel)\n"
        "• only these labels: none (default)\n"
        "• never these labels: `Person`, `Human`, `Carpet` (set for this channel)\n"
        "• text reading on (set for this channel)\n"
        "• text read by Amazon Rekognition, Latin script only (LABELBOT_TEXT_ENGINE auto)\n"
        "• language English (default)\n"
        "• moderation off (default)\n"
        "• moderation threshold 60% (default)\n"
        "• moderation ignores: none (default)\n"
        "• moderation notices: nowhere yet, so moderation can't be turned on "
        "(it needs LABELBOT_MODERATION_CHANNEL or LABELBOT_ADMINS)\n"
        "• your own images: labelled (`/labels me off` to opt out)"
    )
    assert "threshold 75% (default)" in answer(bot, "status", channel="C0002")

    assert answer(bot, "exclude clear") == "Done: cleared the list of labels to exclude."
    assert answer(bot, "reset") == "Done: reset this channel's labelling settings to the defaults."
    assert "(set for this channel)" not in answer(bot, "status")


INVALID_INPUTS = [
    ("threshold", "from 0 to 100"),
    ("threshold 101", "from 0 to 100"),
    ("threshold -1", "from 0 to 100"),
    ("threshold lots", "from 0 to 100"),
    ("threshold 50 60", "from 0 to 100"),
    ("max 0", "from 1 to 20"),
    ("max 21", "from 1 to 20"),
    ("max 2.5", "from 1 to 20"),
    ("max", "from 1 to 20"),
    ("on please", "takes nothing after it"),
    ("reset threshold please", "`/labels reset` takes nothing after it"),
    ("status junk", "`/labels status` takes nothing after it"),
    ("tags maybe", "`/labels tags on`"),
    ("include", "Name the labels to include"),
    ("include " + "x" * 51, "longer than Rekognition's 50 characters"),
    ("exclude Dog; Cat", "characters Rekognition doesn't allow"),
    ("exclude Dog, C@t", "characters Rekognition doesn't allow"),
    ("find", "Search like this"),
    ("find cat in #random", "Pick the channel from Slack's suggestions"),
    ("find cat since yesterday", "`since 7d`"),
    ("language", "`/labels language ja`"),
    ("language fr", "I don't speak `fr` yet"),
    ("language ja en", "`/labels language default`"),
    ("frobnicate", "I don't know `frobnicate`"),
    ("threshhold 90", "Did you mean `/labels threshold`?"),
    ("exlude Dog", "Did you mean `/labels exclude`?"),
]


def test_invalid_input_gets_a_clear_answer_and_changes_nothing(start_bot, fake_slack, subtests):
    """Each typed to one bot (as a channel's people would): each answered, and nothing changed or posted after any."""
    bot = start_bot()
    for text, expected in INVALID_INPUTS:
        with subtests.test(text):
            assert expected in answer(bot, text)
            assert "(set for this channel)" not in answer(bot, "status")
            assert fake_slack.posts() == []


def test_unknown_words_also_get_the_help(start_bot):
    reply = answer(start_bot(), "threshhold 90")
    assert "/labels max 3" in reply


def test_more_than_a_hundred_filter_labels_is_refused(start_bot):
    bot = start_bot()
    names = ", ".join(f"Label {i}" for i in range(60))
    answer(bot, f"include {names}")
    more = ", ".join(f"Other {i}" for i in range(50))

    assert "at most 100 labels to include; that would make 110" in answer(bot, f"include {more}")
    assert answer(bot, "status").count("`Label ") == 60


def test_user_text_is_shown_literally_never_as_a_mention(start_bot):
    reply = answer(start_bot(), "<!channel> <@U123>")
    assert "<!channel>" not in reply
    assert "&lt;!channel&gt;" in reply


def test_a_change_is_announced_in_the_channel_once(start_bot, fake_slack):
    bot = start_bot()
    answer(bot, "threshold 90")
    answer(bot, "status")  # not a change: no line

    lines = channel_lines(fake_slack, 1)
    time.sleep(0.2)
    assert lines == ["<@UALICE> set the threshold to 90%."]
    assert [p["channel"] for p in fake_slack.posts()] == ["C0001"]


def test_a_failed_announcement_does_not_undo_the_change(start_bot, fake_slack):
    fake_slack.fail_next("chat.postMessage", error="not_in_channel")
    bot = start_bot()

    assert answer(bot, "max 2") == "Done: set the number of labels per image to at most 2."
    time.sleep(0.3)
    assert "at most 2 labels per image (set for this channel)" in answer(bot, "status")


def test_an_announcement_whose_answer_was_lost_is_posted_once_and_the_failure_logged(start_bot, fake_slack, caplog):
    fake_slack.lose_next_answer("chat.postMessage")  # Slack posts it, the connection closes before the answer
    bot = start_bot()

    assert answer(bot, "max 3") == "Done: set the number of labels per image to at most 3."
    channel_lines(fake_slack, 1)
    time.sleep(0.5)

    assert [p["text"] for p in fake_slack.posts()] == ["<@UALICE> set the number of labels per image to at most 3."]
    [line] = [r for r in caplog.records if "announcing a settings change in C0001 failed" in r.getMessage()]
    assert line.levelname == "WARNING" and not line.exc_info


def test_a_change_whose_save_failed_is_not_announced(start_bot, fake_slack, monkeypatch):
    bot = start_bot()

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(bot.services.stores.settings, "save_overrides", disk_full)
    response = bot.command("threshold 90")

    assert response.status == 500  # Slack shows the user that the command failed
    time.sleep(0.5)  # the lazy listener has run meanwhile
    assert fake_slack.posts() == []
    monkeypatch.undo()
    assert "threshold 75% (default)" in answer(bot, "status")


def test_the_announcement_is_of_the_change_made_by_whoever_made_it(start_bot, fake_slack, monkeypatch):
    """Another command saved in between (a concurrent one) neither changes the line nor who it credits."""
    bot = start_bot()
    save = bot.services.stores.settings.save_overrides

    def save_then_bob_changes_it_too(channel_id, overrides, **kw):
        save(channel_id, overrides, **kw)
        save(channel_id, replace(overrides, include=("Dog", "Cat")))  # Bob's /labels include Cat, just after

    monkeypatch.setattr(bot.services.stores.settings, "save_overrides", save_then_bob_changes_it_too)
    assert answer(bot, "include Dog", user="UALICE") == "Done: set the labels to include to `Dog`."

    assert channel_lines(fake_slack, 1) == ["<@UALICE> set the labels to include to `Dog`."]


def test_a_change_saved_by_someone_else_meanwhile_is_kept(start_bot, fake_slack, monkeypatch):
    """Alice's /labels threshold reads the settings, Bob's /labels max lands, then Alice's save: both hold."""
    bot = start_bot()
    read = bot.services.stores.settings.get_overrides

    def read_then_bob_saves(channel_id):
        overrides = read(channel_id)
        monkeypatch.undo()
        bot.services.stores.settings.save_overrides(
            channel_id, replace(overrides, max_labels=2), fields=("max_labels",)
        )
        return overrides

    monkeypatch.setattr(bot.services.stores.settings, "get_overrides", read_then_bob_saves)
    answer(bot, "threshold 90")

    status = answer(bot, "status")
    assert "threshold 90% (set for this channel)" in status
    assert "at most 2 labels per image (set for this channel)" in status


def test_off_stops_automatic_labelling_and_on_resumes_it(start_bot, fake_slack, aws_env):
    bot = start_bot()
    answer(bot, "off")
    channel_lines(fake_slack, 1)
    bot.post_event(file_share_event("C0001", [photo(fake_slack, "F1")]))
    time.sleep(0.4)
    assert fake_slack.downloads() == []

    answer(bot, "on")
    bot.post_event(file_share_event("C0001", [photo(fake_slack, "F2")]))

    replies = [p for p in fake_slack.wait_for_posts(3) if "thread_ts" in p]
    assert len(replies) == 1
    assert len(aws_env.calls) == 1
    assert channel_lines(fake_slack, 2) == [
        "<@UALICE> turned automatic image labelling off in this channel.",
        "<@UALICE> turned automatic image labelling on in this channel.",
    ]


def test_include_and_exclude_go_to_rekognition_as_general_label_filters(start_bot, fake_slack, aws_env):
    bot = start_bot()
    answer(bot, "include Cat, Kitten, Whiskers")
    answer(bot, "exclude Kitten")
    bot.post_event(file_share_event("C0001", [photo(fake_slack)]))

    reply = next(p for p in fake_slack.wait_for_posts(3) if "thread_ts" in p)
    assert reply["text"] == "Cat 99.2% · Whiskers 80.1%"
    [call] = aws_env.calls
    assert call.settings == {
        "GeneralLabels": {"LabelInclusionFilters": ["Cat", "Kitten", "Whiskers"], "LabelExclusionFilters": ["Kitten"]}
    }


def test_a_channels_settings_steer_rekognition_and_survive_a_restart(start_bot, fake_slack, aws_env):
    first = start_bot()
    answer(first, "threshold 95.5")
    answer(first, "max 2")
    channel_lines(fake_slack, 2)
    first.close()

    bot = start_bot()
    bot.post_event(file_share_event("C0001", [photo(fake_slack)]))

    reply = next(p for p in fake_slack.wait_for_posts(3) if "thread_ts" in p)
    assert reply["text"] == "Cat 99.2% · Kitten 96.4%"
    [call] = aws_env.calls
    assert (call.min_confidence, call.max_labels) == (95.5, 10)  # room for ancestors to fold
    assert "threshold 95.5%" in reply["blocks"][-1]["elements"][0]["text"]


def test_with_labelbot_admins_only_they_and_workspace_admins_change_settings(start_bot, fake_slack):
    fake_slack.users["UOWNER"] = {"is_owner": True}
    bot = start_bot(LABELBOT_ADMINS="UBOSS,UOTHER")

    refused = answer(bot, "threshold 10", user="UALICE")
    assert "Only labelbot's admins (LABELBOT_ADMINS) and workspace admins or owners" in refused
    assert "threshold 75% (default)" in answer(bot, "status", user="UALICE")  # reading is for everyone

    assert answer(bot, "threshold 80", user="UBOSS").startswith("Done")
    assert answer(bot, "max 4", user="UOWNER").startswith("Done")
    assert channel_lines(fake_slack, 2) == [
        "<@UBOSS> set the threshold to 80%.",
        "<@UOWNER> set the number of labels per image to at most 4.",
    ]
    time.sleep(0.2)
    assert len(fake_slack.posts()) == 2  # nothing announced for the refused change


def test_an_admin_check_slack_does_not_answer_in_time_is_neither_waited_for_nor_remembered(start_bot, fake_slack):
    fake_slack.users["UOWNER"] = {"is_owner": True}
    fake_slack.fail_next("users.info", status=429, error="ratelimited", headers={"Retry-After": "5"})
    bot = start_bot(LABELBOT_ADMINS="UBOSS")

    response = bot.command("threshold 80", user="UOWNER")

    assert response.status == 200
    assert response.seconds < 1.5  # no waiting out the Retry-After inside the ack
    assert response.json()["text"] == UNCHECKED
    assert answer(bot, "threshold 80", user="UOWNER").startswith("Done")  # asked again: not a cached refusal
    assert len([c for c in fake_slack.calls if c.method == "users.info"]) == 2


def test_a_forged_command_is_refused(start_bot):
    response = start_bot().command("threshold 1", secret="wrong-secret")
    assert response.status == 401
