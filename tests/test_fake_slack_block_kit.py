"""The fake Slack refuses what Slack refuses (tests/fakes/block_kit.py): each rule rejects a payload one past Slack's
limit and accepts one at it, and the fake answers a refusal the way Slack does."""

from __future__ import annotations

import json

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.home import HomeChannel, build_home_view
from bot.render import ImageResult, Label, render_reply
from bot.settings import ChannelSettings
from bot.store import LabellingError, LabellingSummary
from tests.conftest import BOT_TOKEN
from tests.fakes.block_kit import Verdict, check_message, view_problems

DEFAULTS = ChannelSettings(threshold=75.0, max_labels=5)


def section(text: str = "hello", **extra) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def button(text: str = "Go", **extra) -> dict:
    return {"type": "button", "text": plain(text), "action_id": "go", **extra}


def actions(count: int) -> dict:
    return {"type": "actions", "elements": [button(action_id=f"a{i}") for i in range(count)]}


def context(count: int, text: str = "x") -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text} for _ in range(count)]}


def fields(count: int, length: int = 10) -> dict:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * length} for _ in range(count)]}


def header(text: str, kind: str = "plain_text") -> dict:
    return {"type": "header", "text": {"type": kind, "text": text}}


def refused(blocks: list) -> tuple[str, ...]:
    return check_message({"text": "fallback", "blocks": blocks}).refused


# ---- what Slack accepts ------------------------------------------------------------------------------------------


def test_the_bots_own_reply_and_home_tab_are_accepted():
    labels = (Label("Cat", 99.2), Label("Kitten", 96.4))
    reply = render_reply([ImageResult("F1", "a.jpg", labels=labels), ImageResult("F2", "b.png", error="No.")], DEFAULTS)
    summary = LabellingSummary(3, 1, (("Cat", 2),), (LabellingError(1.7e9, "C1", "b.png", "No."),))
    home = build_home_view([HomeChannel("C1", "general", DEFAULTS)], summary, DEFAULTS)

    assert check_message({"text": reply.text, "blocks": reply.blocks}) == Verdict()
    assert view_problems(home) == []


@pytest.mark.parametrize(
    "blocks",
    [
        pytest.param([section("s" * 3000)], id="section text of 3000"),
        pytest.param([fields(10, 2000)], id="10 fields of 2000"),
        pytest.param([actions(25)], id="25 elements in actions"),
        pytest.param([context(10, "c" * 3000)], id="10 context elements of 3000"),
        pytest.param([header("h" * 150)], id="header of 150"),
        pytest.param(
            [section(accessory=button("b" * 75, value="v" * 2000, url="https://x/" + "u" * 2990))], id="button"
        ),
        pytest.param([actions(1) | {"elements": [button(action_id="a" * 255)]}], id="action_id of 255"),
        pytest.param([section(block_id="b" * 255)], id="block_id of 255"),
        pytest.param([{"type": "divider"}] * 50, id="50 blocks in a message"),
    ],
)
def test_a_payload_at_each_limit_is_accepted(blocks):
    assert refused(blocks) == ()


def test_a_view_of_100_blocks_and_a_text_of_40000_characters_are_accepted():
    assert view_problems({"type": "home", "blocks": [section()] * 100}) == []
    assert check_message({"text": "t" * 40_000}) == Verdict()


# ---- what Slack refuses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blocks", "reason"),
    [
        pytest.param(
            [{"type": "carousel_of_dreams"}], "unsupported type: 'carousel_of_dreams'", id="unknown block type"
        ),
        pytest.param([{"text": plain("no type")}], "unsupported type: None", id="no block type"),
        pytest.param(["section"], "must provide an object [json-pointer:/blocks/0]", id="not an object"),
        pytest.param([section("s" * 3001)], "text attribute cannot exceed 3000 characters", id="section text of 3001"),
        pytest.param([section("")], "must not be empty or null [json-pointer:/blocks/0/text/text]", id="empty text"),
        pytest.param(
            [{"type": "section", "text": "hi"}], "must provide an object [json-pointer:/blocks/0/text]", id="str"
        ),
        pytest.param([fields(11)], "fields attribute cannot exceed 10 items", id="11 fields"),
        pytest.param([fields(2, 2001)], "less than 2001 characters [json-pointer:/blocks/0/fields/0/text]", id="field"),
        pytest.param([actions(26)], "elements attribute cannot exceed 25 elements", id="26 elements in actions"),
        pytest.param(
            [{"type": "actions"}], "missing 1 required keyword-only argument: 'elements'", id="actions without elements"
        ),
        pytest.param([context(11)], "elements attribute cannot exceed 10 elements", id="11 context elements"),
        pytest.param(
            [context(1, "c" * 3001)],
            "less than 3001 characters [json-pointer:/blocks/0/elements/0/text]",
            id="context text of 3001",
        ),
        pytest.param([context(0)], "must not be empty or null [json-pointer:/blocks/0/elements]", id="empty context"),
        pytest.param(
            [{"type": "context", "elements": [{"type": "emoji_rain", "text": "x"}]}],
            "unsupported type: 'emoji_rain' [json-pointer:/blocks/0/elements/0/type]",
            id="unknown element type",
        ),
        pytest.param(
            [section() | {"text": {"type": "markdown", "text": "x"}}], "unsupported type: 'markdown'", id="text type"
        ),
        pytest.param([header("h" * 151)], "text attribute cannot exceed 150 characters", id="header of 151"),
        pytest.param([header("h", "mrkdwn")], "must be a plain_text text object", id="mrkdwn header"),
        pytest.param([section(accessory=button("b" * 76))], "text attribute cannot exceed 75 characters", id="button"),
        pytest.param(
            [section(accessory=button() | {"text": {"type": "mrkdwn", "text": "*Go*"}})],
            "must be a plain_text text object [json-pointer:/blocks/0/accessory/text/type]",
            id="mrkdwn button",
        ),
        pytest.param(
            [section(accessory=button(action_id="a" * 256))], "action_id attribute cannot exceed 255", id="id"
        ),
        pytest.param([section(accessory=button(value="v" * 2001))], "value attribute cannot exceed 2000", id="value"),
        pytest.param(
            [section(accessory=button(url="https://x/" + "u" * 2991))], "url attribute cannot exceed 3000", id="url"
        ),
        pytest.param([section(block_id="b" * 256)], "block_id cannot exceed 255 characters", id="block_id of 256"),
        pytest.param([section(colour="red")], "unsupported field [json-pointer:/blocks/0/colour]", id="unknown field"),
        pytest.param(
            [{"type": "divider"}] * 51, "no more than 50 items allowed [json-pointer:/blocks]", id="51 blocks"
        ),
    ],
)
def test_each_rule_refuses_what_slack_refuses_and_says_where(blocks, reason):
    reasons = refused(blocks)

    assert any(reason in r for r in reasons), reasons


def test_blocks_that_are_not_an_array_are_refused():
    assert refused({"type": "divider"}) == ("must provide an array [json-pointer:/blocks]",)


def test_a_view_is_held_to_100_blocks_and_to_slack_sdks_view_rules():
    assert view_problems({"type": "home", "blocks": [section()] * 101}) == [
        "views must contain between 1 and 100 blocks [json-pointer:/view]"
    ]
    assert (
        "title must be between 1 and 24"
        in view_problems({"type": "modal", "title": plain("t" * 25), "blocks": [section()]})[0]
    )
    assert view_problems({"type": "home", "blocks": [section(""), header("h" * 151)]}) == [
        "must not be empty or null [json-pointer:/view/blocks/0/text/text]",
        "text attribute cannot exceed 150 characters [json-pointer:/view/blocks/1]",
    ]
    assert view_problems(json.dumps({"type": "home", "blocks": [{"type": "nope"}]})) == [
        "unsupported type: 'nope' [json-pointer:/view/blocks/0/type]"
    ]


def test_a_text_over_40000_characters_is_posted_cut_short_not_refused():
    verdict = check_message({"text": "t" * 40_001, "blocks": [section()]})

    assert verdict.refused == ()
    assert verdict.truncated == ("text is longer than 40,000 characters and was truncated [json-pointer:/text]",)


# ---- how the fake answers ----------------------------------------------------------------------------------------


@pytest.fixture
def client(fake_slack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)


def test_a_message_slack_refuses_is_answered_invalid_blocks_and_recorded(fake_slack, client):
    with pytest.raises(SlackApiError) as refusal:
        client.chat_postMessage(channel="C1", text="hi", blocks=[section("s" * 3001)])

    reason = "text attribute cannot exceed 3000 characters [json-pointer:/blocks/0]"
    assert refusal.value.response.status_code == 200
    assert refusal.value.response.data == {
        "ok": False,
        "error": "invalid_blocks",
        "errors": [reason],
        "response_metadata": {"messages": [f"[ERROR] {reason}"]},
    }
    assert fake_slack.posts() == []  # nothing was posted
    [violation] = fake_slack.take_block_kit_violations()
    assert (violation.method, violation.reasons) == ("chat.postMessage", (reason,))


@pytest.mark.parametrize("method", ["chat.update", "chat.postEphemeral"])
def test_every_message_method_is_checked(fake_slack, client, method):
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.api_call(method, json={"channel": "C1", "ts": "1.1", "user": "U1", "blocks": [{"type": "nope"}]})

    assert [v.method for v in fake_slack.take_block_kit_violations()] == [method]


@pytest.mark.parametrize("method", ["views.publish", "views.open", "views.update"])
def test_a_view_slack_refuses_is_answered_invalid_arguments_with_the_reasons(fake_slack, client, method):
    view = {"type": "home", "blocks": [header("h" * 151)]}

    with pytest.raises(SlackApiError) as refusal:
        client.api_call(method, json={"user_id": "U1", "trigger_id": "1.2.3", "view_id": "V1", "view": view})

    reason = "text attribute cannot exceed 150 characters [json-pointer:/view/blocks/0]"
    assert refusal.value.response.data == {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": [f"[ERROR] {reason}"]},
    }
    assert [v.method for v in fake_slack.take_block_kit_violations()] == [method]


def test_a_valid_message_and_view_are_answered_as_usual_and_leave_no_violation(fake_slack, client):
    client.chat_postMessage(channel="C1", text="hi", blocks=[section(), context(1)])
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [header("Hi"), section()]})

    assert len(fake_slack.posts()) == 1
    assert fake_slack.block_kit_violations == []


def test_a_response_url_answers_ok_or_400_invalid_blocks_like_slacks_webhooks(fake_slack):
    url = f"{fake_slack.url}/api/response_url.T1.B1"

    accepted = WebhookClient(url).send(text="hi", blocks=[section()])
    refusal = WebhookClient(url).send(text="hi", blocks=[fields(11)])

    assert (accepted.status_code, accepted.body) == (200, "ok")
    assert (refusal.status_code, refusal.body) == (400, "invalid_blocks")
    [violation] = fake_slack.take_block_kit_violations()
    assert violation.method == "response_url" and "cannot exceed 10 items" in violation.reasons[0]


def test_a_slash_command_ack_body_is_checked_as_a_message(fake_slack):
    fake_slack.check_command_ack(json.dumps({"response_type": "ephemeral", "text": "fine"}))
    fake_slack.check_command_ack("")  # ack() with nothing to say
    fake_slack.check_command_ack(json.dumps({"text": "x", "blocks": [section(""), {"type": "nope"}]}))

    [violation] = fake_slack.take_block_kit_violations()
    assert violation.method == "slash command ack"
    assert violation.reasons == (
        "must not be empty or null [json-pointer:/blocks/0/text/text]",
        "unsupported type: 'nope' [json-pointer:/blocks/1/type]",
    )


def test_the_labels_acks_go_through_the_check(start_bot, fake_slack, monkeypatch):
    bot = start_bot()
    monkeypatch.setattr("bot.listeners.commands.handle_labels_command", lambda command, services: ("t" * 40_001, None))

    assert bot.command("help").status == 200

    [violation] = fake_slack.take_block_kit_violations()
    assert violation.method == "slash command ack" and "truncated" in violation.reasons[0]


def test_violations_left_at_the_end_fail_the_test_naming_the_method_and_reason(fake_slack, client):
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="hi", blocks=[{"type": "nope"}])

    with pytest.raises(AssertionError, match=r"chat\.postMessage: unsupported type: 'nope'"):
        fake_slack.assert_no_block_kit_violations()
    fake_slack.take_block_kit_violations()


def test_a_socket_mode_ack_with_blocks_slack_refuses_fails_the_test():
    from tests.fakes.socket_mode import FakeSocketModeServer

    server = FakeSocketModeServer()
    try:
        server.acks.append({"envelope_id": "e1", "payload": {"blocks": [{"type": "no_such_block"}]}})
        server.acks.append({"envelope_id": "e2", "payload": {"text": "ok", "blocks": [section()]}})
        with pytest.raises(AssertionError, match="Slack would refuse this Socket Mode ack"):
            server.wait_for_ack("e1", timeout=1)
        assert server.wait_for_ack("e2", timeout=1)["payload"]["text"] == "ok"
    finally:
        server.close()
