"""Slack's rate limits: the fake's (tests/fakes/slack_rate_limits.py) on a fake clock, then the bot through bursts
that reach them. Marked slack_rate_limits, each bot test also fails if any call was retried before its Retry-After
(the fake_slack fixture checks every 429 it gave)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from bot.rate_limit import ChannelPacer
from bot.settings import ChannelOverrides
from bot.slack_api import BoundedRateLimitRetryHandler
from tests.conftest import both_runtimes, fixture_bytes, slack_rate_limits
from tests.fakes.slack_rate_limits import (
    METHOD_RULES,
    Limit,
    Rule,
    SlackRateLimits,
    early_retries,
    rate_limited_by_method,
)
from tests.slack_requests import file_share_event
from tests.test_reactions import DOG_PIZZA_LAPTOP

CAT = fixture_bytes("cat.jpg")
A_MINUTE_IN_A_SECOND = 1 / 60  # time_scale: the fake's windows 60 times shorter, Retry-After still whole seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- the fake's limits ----------------------------------------------------------------------------------------------


def test_a_tier_3_method_takes_a_burst_of_50_then_asks_to_wait_until_the_minute_has_passed():
    clock = Clock()
    limits = SlackRateLimits(clock=clock)
    assert all(limits.retry_after("reactions.add", {"name": f"e{n}"}) is None for n in range(50))

    clock.now += 20.4
    assert limits.retry_after("reactions.add", {}) == 40  # the first call leaves the window at 60 s: ceil(39.6)
    clock.now += 39.6
    assert limits.retry_after("reactions.add", {}) is None
    assert limits.retry_after("users.info", {}) is None  # each method has its own window


def test_chat_post_message_allows_a_short_burst_per_channel_and_counts_the_workspace_too():
    clock = Clock()
    limits = SlackRateLimits(clock=clock)
    for _ in range(3):
        assert limits.retry_after("chat.postMessage", {"channel": "C1"}) is None
    assert limits.retry_after("chat.postMessage", {"channel": "C1"}) == 3
    assert limits.retry_after("chat.postMessage", {"channel": "C2"}) is None  # another channel
    clock.now += 3.0
    assert limits.retry_after("chat.postMessage", {"channel": "C1"}) is None

    for n in range(295):  # 300 a minute for the workspace: 5 accepted so far
        clock.now += 0.001
        assert limits.retry_after("chat.postMessage", {"channel": f"D{n}"}) is None
    assert limits.retry_after("chat.postMessage", {"channel": "C9"}) == 57


def test_a_429_counts_in_no_window_and_retry_after_is_whole_seconds_at_least_one():
    clock = Clock()
    limits = SlackRateLimits(clock=clock, rules={"files.info": (Rule(Limit(2, 10.0)),)})
    limits.retry_after("files.info", {})
    clock.now += 9.95
    limits.retry_after("files.info", {})
    for _ in range(5):  # refused calls don't push the wait further
        assert limits.retry_after("files.info", {}) == 1  # 0.05 s, rounded up to a whole second
    clock.now += 0.05
    assert limits.retry_after("files.info", {}) is None


def test_time_scale_shortens_every_window_not_retry_after():
    clock = Clock()
    limits = SlackRateLimits(clock=clock, time_scale=0.02)  # a minute lasts 1.2 s
    assert limits.retry_after("apps.connections.open", {}) is None  # Tier 1: one a minute
    assert limits.retry_after("apps.connections.open", {}) == 2  # ceil(1.2)
    clock.now += 1.2
    assert limits.retry_after("apps.connections.open", {}) is None
    with pytest.raises(ValueError):
        SlackRateLimits(time_scale=0)


def test_every_method_the_bot_calls_has_a_limit():
    called = {
        "chat.postMessage",
        "chat.postEphemeral",
        "chat.delete",
        "reactions.add",
        "conversations.info",
        "conversations.replies",
        "users.info",
        "users.conversations",
        "views.publish",
        "files.info",
        "auth.test",
    }
    assert called <= set(METHOD_RULES)
    assert SlackRateLimits().retry_after("not.a.method", {}) is None


def test_early_retries_are_the_same_call_again_sooner_than_its_retry_after():
    def call(method: str, at: float, status: int = 200, retry_after: int | None = None, **args):
        return SimpleNamespace(method=method, args=args, received_at=at, status=status, retry_after=retry_after)

    limited = call("reactions.add", 10.0, 429, 2, name="dog")
    calls = [
        limited,
        call("reactions.add", 10.5, name="cat"),  # another call: no retry of the first
        call("reactions.add", 11.9, name="dog"),  # its retry, 1.9 s after a Retry-After of 2
        call("chat.postMessage", 12.0, 429, 1, channel="C1"),
        call("chat.postMessage", 13.0, channel="C1", _ok=True),  # 1 s later: in time
    ]

    assert early_retries(calls) == [(limited, calls[2])]
    assert rate_limited_by_method(calls) == {"reactions.add": 1, "chat.postMessage": 1}


@slack_rate_limits(rules={"views.publish": (Rule(Limit(1)),)})
def test_the_fake_answers_429_with_retry_after_and_records_it(fake_slack):
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token="xoxb-test-token", base_url=fake_slack.api_url, retry_handlers=[])
    view = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Home"}}]}
    client.views_publish(user_id="U1", view=view)
    with pytest.raises(SlackApiError) as raised:
        client.views_publish(user_id="U1", view=view)

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "60"
    assert [(c.status, c.retry_after) for c in fake_slack.calls] == [(200, None), (429, 60)]


# ---- the bot through bursts that reach them ------------------------------------------------------------------------


def photo(fake_slack, file_id: str) -> dict:
    return fake_slack.add_file(file_id, CAT + file_id.encode(), f"{file_id}.jpg", "image/jpeg", "jpg")


def tags_on(bot, channels: list[str]) -> list[str]:
    """Emoji tags on in these channels (what /labels tags on saves); returns them."""
    for channel in channels:
        bot.services.stores.settings.save_overrides(channel, ChannelOverrides(tags=True))
    return channels


def burst(fake_slack, channels: list[str], per_channel: int) -> list[dict]:
    """per_channel image messages in each channel, posted in turn across the channels."""
    return [
        file_share_event(channel, [photo(fake_slack, f"F{channel}{n}")])
        for n, channel in itertools.product(range(per_channel), channels)
    ]


def replies_in_order(fake_slack, events: list[dict]) -> bool:
    """Each channel's replies reached Slack in the order of its messages, one each."""
    for channel in {e["channel"] for e in events}:
        answered = [
            c.args["metadata"]["event_payload"]["message_ts"]
            for c in sorted(fake_slack.calls, key=lambda c: c.received_at)
            if c.method == "chat.postMessage" and c.args.get("_ok") and c.args["channel"] == channel
        ]
        if answered != [e["ts"] for e in events if e["channel"] == channel]:
            return False
    return True


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def cap_rate_limit_waits(bot, seconds: float) -> None:
    """The bot's client waits out a 429 itself only up to `seconds` (20 in production)."""
    [handler] = [h for h in bot.services.slack.retry_handlers if isinstance(h, BoundedRateLimitRetryHandler)]
    handler.max_wait_seconds = seconds


@both_runtimes
@slack_rate_limits(time_scale=A_MINUTE_IN_A_SECOND, rules={"reactions.add": (Rule(Limit(4)),)})
def test_a_tagged_burst_over_the_reactions_limit_gets_every_reply_and_every_emoji_in_order(
    start_bot, fake_slack, aws_env
):
    """Four images, each in its channel with tags on, three emoji each; reactions.add takes 4 a (scaled) minute:
    the fifth emoji gets a 429 and waits its Retry-After, then the rest go. (At 8, a loaded machine once spread the
    twelve over more than a scaled minute, and no call was refused.)"""
    aws_env.labels = list(DOG_PIZZA_LAPTOP)
    bot = start_bot(LABELBOT_WORKERS="4")
    events = burst(fake_slack, tags_on(bot, ["C0001", "C0002", "C0003", "C0004"]), per_channel=1)

    for event in events:
        bot.post_event(event)

    fake_slack.wait_for_posts(4)
    fake_slack.wait_for_calls("reactions.add", 12)
    assert all(fake_slack.reactions(e["channel"], e["ts"]) == ["dog", "pizza", "fork_and_knife"] for e in events)
    assert rate_limited_by_method(fake_slack.calls)["reactions.add"] >= 1
    assert len(fake_slack.posts()) == 4


@slack_rate_limits(time_scale=A_MINUTE_IN_A_SECOND, rules={"chat.postMessage": (Rule(Limit(2), per="channel"),)})
def test_replies_that_get_429s_wait_their_retry_after_and_keep_message_order(start_bot, fake_slack, aws_env):
    """No pacing in the bot (as several Lambda instances posting to one channel): two posts a (scaled) minute per
    channel, four replies ready at once."""
    aws_env.gate = threading.Event()
    bot = start_bot(LABELBOT_WORKERS="4")
    bot.services.pipeline.pacer = ChannelPacer(interval=0.0)
    events = burst(fake_slack, ["C0001"], per_channel=4)
    for event in events:
        bot.post_event(event)
    wait_for(lambda: aws_env.at_gate == 4, what="four calls at Rekognition")

    aws_env.gate.set()
    fake_slack.wait_for_posts(4)

    assert replies_in_order(fake_slack, events)
    assert rate_limited_by_method(fake_slack.calls)["chat.postMessage"] >= 1


@slack_rate_limits(time_scale=A_MINUTE_IN_A_SECOND, rules={"reactions.add": (Rule(Limit(2)),)})
def test_a_reactions_retry_after_longer_than_the_clients_cap_is_waited_out_by_the_queue(
    start_bot, fake_slack, aws_env, caplog
):
    caplog.set_level(logging.INFO, logger="bot.reactions")
    bot = start_bot(LABELBOT_WORKERS="2")
    cap_rate_limit_waits(bot, 0.5)  # a Retry-After of 1 s is over it, as one of 60 s is over the 20 s in production
    events = burst(fake_slack, tags_on(bot, ["C0001", "C0002", "C0003", "C0004"]), per_channel=1)

    for event in events:
        bot.post_event(event)

    fake_slack.wait_for_calls("reactions.add", 4)
    assert all(fake_slack.reactions(e["channel"], e["ts"]) == ["cat"] for e in events)
    assert rate_limited_by_method(fake_slack.calls)["reactions.add"] >= 1
    assert [r for r in caplog.records if "reactions.add is rate limited" in r.getMessage()]
    assert not [r for r in caplog.records if "stopped tagging" in r.getMessage()]


# A post a channel every 2 s: a Retry-After of 2 s leaves a loaded machine time to reach the sweep's check.
@slack_rate_limits(
    time_scale=A_MINUTE_IN_A_SECOND, rules={"chat.postMessage": (Rule(Limit(1, seconds=120), per="channel"),)}
)
def test_a_replys_retry_after_longer_than_the_clients_cap_holds_the_channel_for_the_sweep(
    start_bot, fake_slack, aws_env
):
    """The second reply's 429 asks for 2 s, over the client's cap: it is left for the reply sweep, which doesn't
    post in that channel before the Retry-After has passed; the third waits behind it."""
    aws_env.gate = threading.Event()
    bot = start_bot(LABELBOT_WORKERS="3")
    cap_rate_limit_waits(bot, 0.5)
    pipeline = bot.services.pipeline
    pipeline.pacer = ChannelPacer(interval=0.0)
    events = burst(fake_slack, ["C0001"], per_channel=3)
    for event in events:
        bot.post_event(event)
    wait_for(lambda: aws_env.at_gate == 3, what="three calls at Rekognition")

    aws_env.gate.set()
    fake_slack.wait_for_posts(1)
    wait_for(lambda: rate_limited_by_method(fake_slack.calls)["chat.postMessage"] == 1, what="the 429")
    # The fake records the 429 as it answers; the bot holds the channel once it has read the answer.
    wait_for(lambda: pipeline.pacer.held_for("C0001") > 0.5, what="the channel held for the 429's Retry-After")
    wait_for(lambda: pipeline.stores.replies.messages_ready_to_reply(), what="the reply left for the sweep")
    pipeline.post_reply("C0001", events[1]["ts"])  # as the sweep would, before the Retry-After has passed
    assert len(fake_slack.posts()) == 1
    wait_for(lambda: pipeline.pacer.held_for("C0001") == 0, what="the Retry-After to pass")
    bot.sweep()

    fake_slack.wait_for_posts(2)
    wait_for(lambda: bot.sweep() or len(fake_slack.posts()) == 3, what="the third reply")  # its 429 is over the cap too
    assert replies_in_order(fake_slack, events)
    assert not early_retries(fake_slack.calls)
