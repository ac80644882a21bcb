"""/labels through signed slash-command requests: ephemeral answers, per-channel settings that persist."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_bytes
from tests.slack_requests import file_share_event


def answer(bot, text: str, channel: str = "C0001") -> str:
    response = bot.command(text, channel=channel)
    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body["text"]


@pytest.mark.parametrize("text", ["", "help", "HELP"])
def test_help_lists_every_subcommand_with_an_example(start_bot, text):
    reply = answer(start_bot(), text)
    for example in ("/labels threshold 90", "/labels max 3", "/labels status", "/labels help"):
        assert example in reply


def test_status_shows_defaults_then_what_the_channel_set(start_bot):
    bot = start_bot()
    assert answer(bot, "status") == (
        "Labelling in this channel:\n• threshold 75% (default)\n• at most 5 labels per image (default)"
    )

    assert answer(bot, "threshold 90") == "Done: in this channel I'll show labels I'm at least 90% sure of."
    assert answer(bot, "max 3") == "Done: in this channel I'll show at most 3 labels per image."

    assert answer(bot, "status") == (
        "Labelling in this channel:\n• threshold 90% (set for this channel)\n"
        "• at most 3 labels per image (set for this channel)"
    )
    assert "threshold 75% (default)" in answer(bot, "status", channel="C0002")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("threshold", "from 0 to 100"),
        ("threshold 101", "from 0 to 100"),
        ("threshold -1", "from 0 to 100"),
        ("threshold lots", "from 0 to 100"),
        ("threshold 50 60", "from 0 to 100"),
        ("max 0", "from 1 to 20"),
        ("max 21", "from 1 to 20"),
        ("max 2.5", "from 1 to 20"),
        ("max", "from 1 to 20"),
        ("frobnicate", "I don't know `frobnicate`"),
    ],
)
def test_invalid_input_gets_the_accepted_range_and_changes_nothing(start_bot, text, expected):
    bot = start_bot()
    assert expected in answer(bot, text)
    assert "(default)" in answer(bot, "status").split("\n")[1]


def test_user_text_is_shown_literally_never_as_a_mention(start_bot):
    reply = answer(start_bot(), "<!channel> <@U123>")
    assert "<!channel>" not in reply
    assert "&lt;!channel&gt;" in reply


def test_a_channels_settings_steer_rekognition_and_survive_a_restart(start_bot, fake_slack, aws_env):
    first = start_bot()
    answer(first, "threshold 95.5")
    answer(first, "max 2")
    first.services.stop()

    bot = start_bot()
    photo = fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0001", [photo]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"] == "Cat 99.2% · Kitten 96.4%"
    [call] = aws_env.calls
    assert (call.min_confidence, call.max_labels) == (95.5, 2)
    assert "threshold 95.5%" in post["blocks"][-1]["elements"][0]["text"]


def test_a_forged_command_is_refused(start_bot):
    response = start_bot().command("threshold 1", secret="wrong-secret")
    assert response.status == 401
