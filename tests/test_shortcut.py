"""The "Label this image" message shortcut: signed interactivity requests through the real Bolt app."""

from __future__ import annotations

import sqlite3
import time

from bot.listeners.shortcuts import ALREADY_LABELLED, NO_IMAGES, NOT_A_MEMBER, NOT_RECORDED
from bot.settings import ChannelOverrides
from tests import slack_requests
from tests.conftest import both_runtimes, fixture_bytes, server_only
from tests.fakes.slack import TEAM_ID
from tests.slack_requests import file_share_event, next_ts

pytestmark = both_runtimes  # each behaviour below also holds on AWS Lambda (tests/conftest.py)


def cat_file(fake_slack, file_id="F_CAT") -> dict:
    return fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")


def message_action(channel: str, message: dict, *, user: str = "UBOB", response_url: str = "") -> dict:
    return {
        "type": "message_action",
        "token": "legacy-verification-token",
        "action_ts": next_ts(),
        "team": {"id": TEAM_ID, "domain": "fake"},
        "user": {"id": user, "username": "bob", "team_id": TEAM_ID},
        "channel": {"id": channel, "name": "general"},
        "callback_id": "label_this_image",
        "trigger_id": "1.2.3",
        "message_ts": message["ts"],
        "message": {"type": "message", **{k: v for k, v in message.items() if k not in ("channel", "channel_type")}},
        "response_url": response_url or "http://127.0.0.1:9/unused",
    }


def shortcut(bot, channel: str, message: dict, **kw) -> slack_requests.HttpAnswer:
    return slack_requests.post_interaction(bot.events_url, message_action(channel, message, **kw))


def wait_for_response_url(fake_slack, path: str, timeout: float = 10.0) -> list:
    """The calls to a response_url (served by the fake under /api/PATH; tokenless, so not 'answered' calls)."""
    deadline = time.monotonic() + timeout
    while not (calls := [c for c in fake_slack.calls if c.method == path]):
        assert time.monotonic() < deadline, f"nothing sent to {path}"
        time.sleep(0.01)
    return calls


def test_the_shortcut_labels_a_message_in_a_channel_where_labelling_is_off(start_bot, fake_slack, aws_env):
    bot = start_bot()
    bot.services.stores.settings.save_overrides("C0001", ChannelOverrides(enabled=False))
    message = file_share_event("C0001", [cat_file(fake_slack)])
    bot.post_event(message)
    time.sleep(0.3)
    assert fake_slack.posts() == []  # /labels off: nothing on its own

    answer = shortcut(bot, "C0001", message)

    assert answer.status == 200
    [post] = fake_slack.wait_for_posts(1)
    assert (post["channel"], post["thread_ts"]) == ("C0001", message["ts"])
    assert post["text"].startswith("Cat 99.2%")
    assert len(aws_env.calls) == 1
    assert fake_slack.calls_to("chat.postEphemeral") == []


def test_a_message_in_a_thread_is_answered_in_that_thread(start_bot, fake_slack):
    bot = start_bot()
    parent = next_ts()
    message = file_share_event("C0001", [cat_file(fake_slack)], thread_ts=parent)

    shortcut(bot, "C0001", message)

    [post] = fake_slack.wait_for_posts(1)
    assert post["thread_ts"] == parent


def test_a_message_without_images_gets_an_ephemeral_explanation(start_bot, fake_slack, aws_env):
    bot = start_bot()
    pdf = fake_slack.add_file("F_PDF", b"%PDF-1.7 ...", "report.pdf", "application/pdf", "pdf")
    text_only = {"type": "message", "user": "UALICE", "text": "hello", "ts": next_ts()}

    answers = [shortcut(bot, "C0001", text_only), shortcut(bot, "C0001", file_share_event("C0001", [pdf]))]

    assert [a.status for a in answers] == [200, 200]
    notes = fake_slack.wait_for_calls("chat.postEphemeral", 2)
    assert [(n["channel"], n["user"], n["text"]) for n in notes] == [("C0001", "UBOB", NO_IMAGES)] * 2
    fake_slack.users["UHANAKO"] = {"locale": "ja-JP"}  # told in the language of their Slack
    shortcut(bot, "C0001", text_only, user="UHANAKO")
    assert fake_slack.wait_for_calls("chat.postEphemeral", 3)[2]["text"] == (
        "そのメッセージには、ラベルを付けられる画像がありません。"
    )
    time.sleep(0.3)
    assert fake_slack.posts() == []
    assert aws_env.calls == []
    assert bot.services.stores.queue.queue_stats().depth == 0


def test_an_already_labelled_message_gets_an_ephemeral_note_and_no_second_reply(start_bot, fake_slack, aws_env):
    bot = start_bot()
    message = file_share_event("C0001", [cat_file(fake_slack)])
    bot.post_event(message)
    fake_slack.wait_for_posts(1)

    answer = shortcut(bot, "C0001", message)

    assert answer.status == 200
    [note] = fake_slack.wait_for_calls("chat.postEphemeral")
    assert (note["channel"], note["user"], note["text"]) == ("C0001", "UBOB", ALREADY_LABELLED)
    time.sleep(0.5)
    assert len(fake_slack.posts()) == 1
    assert len(aws_env.calls) == 1


def test_the_shortcut_twice_labels_once(start_bot, fake_slack, aws_env):
    bot = start_bot()
    message = file_share_event("C0002", [cat_file(fake_slack)])

    first, second = shortcut(bot, "C0002", message), shortcut(bot, "C0002", message)

    assert (first.status, second.status) == (200, 200)
    fake_slack.wait_for_posts(1)
    fake_slack.wait_for_calls("chat.postEphemeral")
    time.sleep(0.5)
    assert len(fake_slack.posts()) == 1
    assert len(aws_env.calls) == 1
    assert [n["text"] for n in fake_slack.calls_to("chat.postEphemeral")] == [ALREADY_LABELLED]


def test_where_the_bot_cannot_post_the_note_goes_through_the_response_url(start_bot, fake_slack):
    fake_slack.fail_next("chat.postEphemeral", error="channel_not_found")
    bot = start_bot()
    text_only = {"type": "message", "user": "UALICE", "text": "hello", "ts": next_ts()}

    shortcut(bot, "C0009", text_only, response_url=f"{fake_slack.url}/api/response_url.T1.B1")

    [response] = wait_for_response_url(fake_slack, "response_url.T1.B1")
    assert response.args == {"text": NO_IMAGES, "response_type": "ephemeral", "replace_original": False}
    assert "authorization" not in response.headers  # the response_url needs no token


def test_a_store_failure_is_told_to_the_user(start_bot, fake_slack, monkeypatch):
    bot = start_bot()

    def store_down(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(bot.services.stores.queue, "enqueue_message", store_down)
    answer = shortcut(bot, "C0001", file_share_event("C0001", [cat_file(fake_slack)]))

    assert answer.status == 200  # acked at once; the work (and its failure) comes after
    [note] = fake_slack.wait_for_calls("chat.postEphemeral")
    assert (note["user"], note["text"]) == ("UBOB", NOT_RECORDED)
    assert "disk" not in note["text"]


def test_where_the_bot_is_not_a_member_the_user_is_asked_to_invite_it_and_nothing_is_labelled(
    start_bot, fake_slack, aws_env
):
    fake_slack.conversations["C0OUT"] = {"is_member": False}  # a public channel the bot isn't in
    fake_slack.conversations["G0HIDDEN"] = None  # a private one: Slack says channel_not_found
    fake_slack.fail_next("chat.postEphemeral", error="not_in_channel")
    fake_slack.fail_next("chat.postEphemeral", error="channel_not_found")
    bot = start_bot()

    for channel in ("C0OUT", "G0HIDDEN"):
        url = f"{fake_slack.url}/api/response_url.{channel}"
        answer = shortcut(bot, channel, file_share_event(channel, [cat_file(fake_slack)]), response_url=url)
        assert answer.status == 200
        wait_for_response_url(fake_slack, f"response_url.{channel}")

    notes = [c.args["text"] for c in fake_slack.calls if c.method.startswith("response_url.")]
    assert notes == [NOT_A_MEMBER, NOT_A_MEMBER]
    assert "/invite @labelbot" in NOT_A_MEMBER
    assert [c["channel"] for c in fake_slack.calls_to("conversations.info")] == ["C0OUT", "G0HIDDEN"]
    time.sleep(0.3)
    assert bot.services.stores.queue.queue_stats().depth == 0
    assert aws_env.calls == [] and fake_slack.posts() == []


@server_only
def test_shortcut_labelled_images_keep_their_channels_type_for_find(start_bot, fake_slack, aws_env):
    """A public channel stays searchable from elsewhere; a private one's image stays in it."""
    fake_slack.conversations["G0PRIV"] = {"is_private": True}
    bot = start_bot()
    public = file_share_event("C0PUB", [cat_file(fake_slack, "F_PUB")])
    private = file_share_event("G0PRIV", [cat_file(fake_slack, "F_PRIV")])

    shortcut(bot, "C0PUB", public)
    shortcut(bot, "G0PRIV", private)
    fake_slack.wait_for_posts(2)

    def find(text: str) -> str:
        return bot.command(f"find {text}", channel="C0001").json()["text"]

    deadline = time.monotonic() + 5
    while "1 image matching" not in find("cat in <#C0PUB>"):  # indexed just before the reply
        assert time.monotonic() < deadline, find("cat in <#C0PUB>")
        time.sleep(0.02)
    assert f"archives/C0PUB/p{public['ts'].replace('.', '')}" in find("cat in <#C0PUB>")
    assert find("cat in <#G0PRIV>").startswith("I can't search <#G0PRIV> from here")
    types = dict(bot.services.stores.backend._db.execute("SELECT channel_id, channel_type FROM messages"))
    assert types == {"C0PUB": "channel", "G0PRIV": "group"}


def test_where_slack_will_not_say_the_conversation_is_labelled_anyway(start_bot, fake_slack, aws_env):
    """A DM with the bot: conversations.info wants im:read, which the app doesn't ask for."""
    fake_slack.fail_next("conversations.info", error="missing_scope")
    bot = start_bot()
    message = file_share_event("D0BOB", [cat_file(fake_slack)])

    shortcut(bot, "D0BOB", message)

    [post] = fake_slack.wait_for_posts(1)
    assert (post["channel"], post["thread_ts"]) == ("D0BOB", message["ts"])
    assert fake_slack.calls_to("chat.postEphemeral") == []


def test_an_unsigned_shortcut_is_refused(start_bot, fake_slack):
    bot = start_bot()
    payload = message_action("C0001", file_share_event("C0001", [cat_file(fake_slack)]))

    answer = slack_requests.post_interaction(bot.events_url, payload, secret="not-the-secret")

    assert answer.status == 401
    time.sleep(0.3)
    assert bot.services.stores.queue.queue_stats().depth == 0
