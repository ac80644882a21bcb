"""Opting out, end to end: `/labels me off|on` (anyone, for their own images, everywhere) and `#nolabel` in one
message. Such an image is never sent to Rekognition for labels or text: no reply, no emoji tags, no index entry, no
Show where; where moderation is on it is still checked and held like anyone's. Signed commands and events into the
real Bolt app, as the long-running bot and as on AWS Lambda, with the fake Slack and the loopback Rekognition."""

from __future__ import annotations

import time

import pytest

from bot.opt_out import asks_no_labels
from tests.conftest import both_runtimes, fixture_bytes
from tests.slack_requests import file_share_event
from tests.test_shortcut import shortcut

pytestmark = both_runtimes

MODERATION = {"LABELBOT_MODERATION": "on", "LABELBOT_MODERATION_CHANNEL": "C0MOD", "LABELBOT_ADMINS": "UBOSS"}
VIOLENCE = [
    {"Name": "Violence", "Confidence": 91.0, "ParentName": "", "TaxonomyLevel": 1},
    {"Name": "Graphic Violence", "Confidence": 91.0, "ParentName": "Violence", "TaxonomyLevel": 2},
]


def answer(bot, text: str, user: str, channel: str = "C0001") -> str:
    response = bot.command(text, channel=channel, user=user)
    assert response.status == 200 and response.json()["response_type"] == "ephemeral"
    return response.json()["text"]


def post(bot, fake_slack, user: str, file_id: str, *, channel: str = "C0001", text: str = "") -> dict:
    photo = fake_slack.add_file(file_id, fixture_bytes("cat.jpg") + file_id.encode(), "cat.jpg", "image/jpeg", "jpg")
    event = file_share_event(channel, [photo], user=user)
    event["text"] = text
    assert bot.post_event(event).status == 200
    return event


def settle(bot) -> None:
    """Let the workers (or Lambda's invocations) finish whatever the events started."""
    if getattr(bot, "fake_lambda", None) is not None:
        bot.fake_lambda.wait_idle()
    time.sleep(0.4)


def test_labels_me_off_leaves_a_users_images_alone_everywhere_until_labels_me_on(start_bot, fake_slack, aws_env):
    bot = start_bot(LABELBOT_ADMINS="UBOSS")  # UALICE is no admin: she needs none for this
    answer(bot, "tags on", "UBOSS")

    assert answer(bot, "me", "UALICE").startswith("I label the images you post")
    off = answer(bot, "me off", "UALICE")
    assert off.startswith("Done: from now on, I don't label") and "moderation" in off and "/labels me on" in off
    assert "your own images: not labelled" in answer(bot, "status", "UALICE")
    assert "your own images: labelled" in answer(bot, "status", "UBOB")  # the setting is hers alone

    posts_before = len(fake_slack.posts())  # the channel's line about the emoji tags
    alices = [post(bot, fake_slack, "UALICE", "F_A1"), post(bot, fake_slack, "UALICE", "F_A2", channel="C0002")]
    bobs = post(bot, fake_slack, "UBOB", "F_B1")
    reply = fake_slack.wait_for_posts(posts_before + 1)[-1]
    settle(bot)

    assert reply["thread_ts"] == bobs["ts"] and len(fake_slack.posts()) == posts_before + 1  # Bob's reply only
    assert [headers for f in ("F_A1", "F_A2") for headers in fake_slack.files[f].downloads] == []  # not even fetched
    assert [c.operation for c in aws_env.calls] == ["DetectLabels"]  # Bob's image's
    tagged = {c["timestamp"] for c in fake_slack.calls_to("reactions.add")}
    assert tagged == {bobs["ts"]}  # emoji tags on Bob's message alone
    found = answer(bot, "find cat", "UBOB")
    assert bobs["ts"].replace(".", "") in found
    assert not any(event["ts"].replace(".", "") in found for event in alices)  # in no search

    assert answer(bot, "me on", "UALICE").startswith("Done: I label the images you post again")
    again = post(bot, fake_slack, "UALICE", "F_A3")
    assert fake_slack.wait_for_posts(posts_before + 2)[-1]["thread_ts"] == again["ts"]


def test_the_opt_out_survives_a_restart(start_bot, fake_slack, aws_env):
    bot = start_bot()
    answer(bot, "me off", "UALICE")
    bot.close()

    again = start_bot()  # the same store (SQLite file, or DynamoDB tables)
    assert answer(again, "me", "UALICE").startswith("You opted out")
    post(again, fake_slack, "UALICE", "F_A1")
    settle(again)
    assert fake_slack.posts() == [] and aws_env.calls == []


def test_nolabel_in_a_message_leaves_that_message_alone(start_bot, fake_slack, aws_env):
    bot = start_bot()

    post(bot, fake_slack, "UALICE", "F_TAGGED", text="our offsite, please don't #NoLabel")
    post(bot, fake_slack, "UALICE", "F_PLAIN", text="the #nolabels channel is elsewhere")  # another word: labelled

    [reply] = fake_slack.wait_for_posts(1)
    settle(bot)
    assert reply["text"].startswith("Cat 99.2%") and len(fake_slack.posts()) == 1
    assert fake_slack.files["F_TAGGED"].downloads == [] and len(aws_env.calls) == 1


def test_with_moderation_on_an_opted_out_image_is_still_checked_and_held_but_never_labelled(
    start_bot, fake_slack, aws_env
):
    bot = start_bot(**MODERATION)
    answer(bot, "me off", "UALICE")

    post(bot, fake_slack, "UALICE", "F_FINE")  # checked, fine: nothing posted about it
    settle(bot)
    assert [c.operation for c in aws_env.calls] == ["DetectModerationLabels"] and fake_slack.posts() == []

    aws_env.moderation_labels = VIOLENCE
    held = post(bot, fake_slack, "UALICE", "F_UNSAFE", text="#nolabel")  # neither exempts it from moderation
    posts = fake_slack.wait_for_posts(2)  # the held line in its thread, the notice for the admins
    assert {p["channel"] for p in posts} == {"C0001", "C0MOD"}
    assert next(p for p in posts if p["channel"] == "C0001")["thread_ts"] == held["ts"]
    assert "DetectLabels" not in [c.operation for c in aws_env.calls]


def test_label_this_image_respects_the_posters_choice(start_bot, fake_slack, aws_env):
    bot = start_bot()
    answer(bot, "me off", "UALICE")
    photo = fake_slack.add_file("F_A1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
    message = file_share_event("C0001", [photo], user="UALICE")

    assert shortcut(bot, "C0001", message).status == 200  # Bob asks for it
    [note] = fake_slack.wait_for_calls("chat.postEphemeral")
    assert note["user"] == "UBOB" and "asked me not to label their images" in note["text"]
    settle(bot)
    assert fake_slack.posts() == [] and aws_env.calls == []


@pytest.mark.parametrize(
    ("text", "tagged"),
    [
        ("#nolabel", True),
        ("team photo #NOLABEL!", True),
        ("(#nolabel)", True),
        ("#nolabels", False),
        ("#nolabel_please", False),
        ("#nolabel-x", False),
        ("x#nolabel", False),
        ("##nolabel", False),
        ("nolabel", False),
        (None, False),
    ],
)
def test_nolabel_is_a_tag_of_its_own(text, tagged):
    assert asks_no_labels(text) is tagged
