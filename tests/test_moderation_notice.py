"""What moderation says in Slack (bot.moderation_notice): every message valid Block Kit, as the strict fake checks it;
the thread's line neutral; the admin's notice complete; the buttons' value naming exactly one image."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.moderation_notice import (
    KEEP_ACTION,
    RELEASE_ACTION,
    button_value,
    image_of_button,
    render_decided_notice,
    render_notice,
)
from bot.render import HELD_LINE, ImageResult, Label, render_reply
from bot.settings import ChannelSettings
from bot.store.protocols import HeldImage
from tests.fakes.block_kit import check_message

IMAGE = HeldImage(
    channel_id="C0001",
    message_ts="1733300000.000100",
    file_id="F0001",
    user_id="U0POSTER",
    content_key="abc",
    categories=(("Violence", 91.23), ("Alcohol", 60.0)),
    held_at=1733300001.0,
)
PERMALINK = "https://example.slack.com/archives/C0001/p1733300000000100"


def valid(reply) -> bool:
    verdict = check_message({"text": reply.text, "blocks": reply.blocks})
    assert verdict.reasons == (), verdict.reasons
    return True


def test_the_threads_line_is_neutral_and_names_no_category():
    settings = ChannelSettings(threshold=80.0, max_labels=5)
    reply = render_reply([ImageResult("F1", "fight.jpg", held=(("Violence", 91.2),))], settings)
    assert valid(reply)
    assert reply.text == HELD_LINE == "This image is waiting for an admin's review."
    assert "Violence" not in json.dumps(reply.blocks) and len(reply.blocks) == 1  # no threshold line either


def test_a_held_image_beside_a_labelled_one_gets_the_line_under_its_name():
    settings = ChannelSettings(threshold=80.0, max_labels=5)
    results = [
        ImageResult("F1", "cat.jpg", labels=(Label("Cat", 99.0),)),
        ImageResult("F2", "fight.jpg", held=(("Violence", 91.2),)),
    ]
    reply = render_reply(results, settings)
    assert valid(reply)
    assert reply.text == f"*cat.jpg*: Cat 99.0%\n*fight.jpg*: {HELD_LINE}"
    assert "Violence" not in json.dumps(reply.blocks)


def test_the_notice_says_who_posted_where_links_the_message_and_lists_the_categories():
    reply = render_notice(IMAGE, "fight.jpg", PERMALINK)
    shown = json.dumps(reply.blocks)

    assert valid(reply)
    assert "<@U0POSTER>" in shown and "<#C0001>" in shown
    assert f"<{PERMALINK}|fight.jpg>" in shown
    assert "Violence 91.2%" in shown and "Alcohol 60%" in shown
    assert "<@U0POSTER>" in reply.text and "<#C0001>" in reply.text  # the notification's text says it too


def test_the_notice_has_the_two_buttons_naming_the_image():
    actions = [block for block in render_notice(IMAGE, "fight.jpg", PERMALINK).blocks if block["type"] == "actions"]
    assert len(actions) == 1
    buttons = {button["action_id"]: button for button in actions[0]["elements"]}
    assert set(buttons) == {RELEASE_ACTION, KEEP_ACTION}
    assert (
        buttons[RELEASE_ACTION]["text"]["text"] == "Looks fine"
        and buttons[KEEP_ACTION]["text"]["text"] == "Keep flagged"
    )
    assert {image_of_button(button["value"]) for button in buttons.values()} == {
        ("C0001", "1733300000.000100", "F0001")
    }


def test_a_file_name_can_neither_ping_nor_link_and_a_missing_permalink_leaves_the_name():
    reply = render_notice(IMAGE, "<!channel> <https://evil.example|click>.jpg", None)
    shown = json.dumps(reply.blocks)
    assert valid(reply)
    assert "<!channel>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt;" in shown


@pytest.mark.parametrize(("decision", "words"), [("released", "Looks fine"), ("kept", "Keep flagged")])
def test_a_decided_notice_names_the_admin_and_has_no_buttons(decision, words):
    decided = replace(IMAGE, decision=decision, decided_by="U0ADMIN", decided_at=1733300100.0)
    pressed = render_notice(IMAGE, "fight.jpg", PERMALINK).blocks  # as Slack sends the message with the press
    reply = render_decided_notice(decided, pressed)
    shown = json.dumps(reply.blocks)

    assert valid(reply)
    assert all(block["type"] != "actions" for block in reply.blocks)
    assert words in shown and "<@U0ADMIN>" in shown and "<!date^1733300100^" in shown
    assert "Violence 91.2%" in shown and f"<{PERMALINK}|fight.jpg>" in shown  # the facts stay


def test_a_decided_notice_without_the_pressed_blocks_is_rebuilt_from_the_record():
    decided = replace(IMAGE, decision="kept", decided_by="U0ADMIN", decided_at=1733300100.0)
    reply = render_decided_notice(decided, None)
    shown = json.dumps(reply.blocks)
    assert valid(reply)
    assert "Violence 91.2%" in shown and "<@U0POSTER>" in shown and "Keep flagged" in shown


def test_a_notice_about_an_image_no_longer_held_says_so_without_buttons():
    reply = render_decided_notice(None, render_notice(IMAGE, "fight.jpg", PERMALINK).blocks)
    assert valid(reply)
    assert all(block["type"] != "actions" for block in reply.blocks)
    assert "no longer held" in reply.text


@pytest.mark.parametrize(
    "value",
    [None, 12, "", "C0001 1.2", "C0001 1733300000.000100 F0001 extra", "<@U1> 1.2 F1", "C0001 1733300000.000100 U0001"],
)
def test_a_button_value_the_bot_did_not_write_names_no_image(value):
    assert image_of_button(value) is None


def test_a_button_value_round_trips():
    assert image_of_button(button_value(IMAGE)) == (IMAGE.channel_id, IMAGE.message_ts, IMAGE.file_id)
