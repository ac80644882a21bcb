"""/labels moderation end to end: signed slash commands through the real Bolt app turn a channel's moderation on or
off, set its threshold and ignored categories, and each change shows in what the next image costs and whether it is
held; the admin rule and the no-reviewers refusal; the start-up check of LABELBOT_MODERATION_CHANNEL and what
/labels status says of it. As the long-running bot and as on AWS Lambda (tests/conftest.py)."""

from __future__ import annotations

import logging
import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.conversations import ModerationChannelCheck
from bot.permissions import DENIED
from bot.render import HELD_LINE
from bot.settings import NO_REVIEWERS
from tests.conftest import BOT_TOKEN, Clock, both_runtimes
from tests.fakes.slack_rate_limits import Limit, Rule, SlackRateLimits
from tests.test_labels_command import answer
from tests.test_moderation_flow import MODERATION, VIOLENCE, post_image, wait_for_posts_to, wait_until

pytestmark = both_runtimes

NOTICES_ONLY = {"LABELBOT_MODERATION_CHANNEL": "C0MOD"}  # somewhere to send notices; the default stays off
NOT_A_MEMBER = "LABELBOT_MODERATION_CHANNEL is C0MOD, but the bot is not a member of that channel"
CANT_SEE = "LABELBOT_MODERATION_CHANNEL is C0MOD, which the bot can't see (channel_not_found)"


def thread_replies(fake_slack, channel: str) -> list[dict]:
    """The bot's messages in threads of a channel, as they are now."""
    return [m for m in fake_slack.thread_messages if m["channel"] == channel and "thread_ts" in m]


def channel_lines(fake_slack, count: int, channel: str = "C0001") -> list[str]:
    """The visible (non-thread) lines the bot posted in a channel (the moderation channel's notices are not)."""
    lines = wait_until(
        lambda: (
            (found := [p["text"] for p in fake_slack.posts() if p["channel"] == channel and "thread_ts" not in p])
            and len(found) >= count
            and found
        ),
        what=f"{count} lines in {channel}",
    )
    return lines


def operations(aws_env) -> list[str]:
    return [call.operation for call in aws_env.calls]


def on_lambda(bot) -> bool:
    return bot.config.on_lambda


def moderation_channel_checks(fake_slack) -> int:
    return len([c for c in fake_slack.calls if c.method == "conversations.info" and c.args.get("channel") == "C0MOD"])


def warnings_about_the_channel(caplog) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.levelno == logging.WARNING and "LABELBOT_MODERATION_CHANNEL" in r.getMessage()
    ]


# ---- a channel's moderation steers the next image ---------------------------------------------------------------


def test_moderation_off_in_a_channel_makes_no_moderation_call_where_the_default_is_on(start_bot, fake_slack, aws_env):
    bot = start_bot(**MODERATION)
    aws_env.moderation_labels = VIOLENCE

    assert answer(bot, "moderation off") == "Done: turned moderation off in this channel."
    assert channel_lines(fake_slack, 1) == ["<@UALICE> turned moderation off in this channel."]
    post_image(bot, fake_slack, "FOFF1", channel="C0001")

    [reply] = wait_until(lambda: thread_replies(fake_slack, "C0001"), what="the reply")
    assert reply["text"].startswith("Cat 99.2%")
    assert operations(aws_env) == ["DetectLabels"]  # no DetectModerationLabels for this channel's image

    post_image(bot, fake_slack, "FON1", channel="C0002")  # the same bytes where the default holds
    [held] = wait_until(lambda: thread_replies(fake_slack, "C0002"), what="the held line")
    assert held["text"] == HELD_LINE
    assert operations(aws_env) == ["DetectLabels", "DetectModerationLabels"]
    assert "• moderation off (set for this channel)" in answer(bot, "status")
    assert "• moderation on (default)" in answer(bot, "status", channel="C0002")


def test_moderation_on_in_a_channel_where_the_default_is_off_holds_a_flagged_image(start_bot, fake_slack, aws_env):
    bot = start_bot(**NOTICES_ONLY)
    aws_env.moderation_labels = VIOLENCE

    reply = answer(bot, "moderation on")
    assert reply == (
        "Done: turned moderation on in this channel: a flagged image waits for an admin's review instead of labels."
    )
    assert channel_lines(fake_slack, 1) == [
        "<@UALICE> turned moderation on in this channel: a flagged image waits for an admin's review instead of labels."
    ]
    post_image(bot, fake_slack, "FHELD1", channel="C0001")

    posts = wait_for_posts_to(fake_slack, {"C0001": 2, "C0MOD": 1})  # the change's line, the held line; the notice
    assert [m["text"] for m in posts["C0001"] if "thread_ts" in m] == [HELD_LINE]
    assert "Violence 91%" in str(posts["C0MOD"][0]["blocks"])
    assert operations(aws_env) == ["DetectModerationLabels"]  # and no DetectLabels

    post_image(bot, fake_slack, "FFREE1", channel="C0002")  # default off: labelled, no moderation call
    [labelled] = wait_until(lambda: thread_replies(fake_slack, "C0002"), what="the reply")
    assert labelled["text"].startswith("Cat 99.2%")
    assert operations(aws_env) == ["DetectModerationLabels", "DetectLabels"]


def test_the_channels_moderation_threshold_decides_what_is_held(start_bot, fake_slack, aws_env):
    bot = start_bot(**MODERATION)
    aws_env.moderation_labels = VIOLENCE  # Violence 91%

    assert answer(bot, "moderation threshold 95") == "Done: set the moderation threshold to 95%."
    post_image(bot, fake_slack, "FHIGH1")
    [first] = wait_until(lambda: thread_replies(fake_slack, "C0001"), what="the first reply")
    assert first["text"].startswith("Cat 99.2%")  # 91% is under 95%: labelled

    assert answer(bot, "moderation threshold 90%") == "Done: set the moderation threshold to 90%."
    post_image(bot, fake_slack, "FLOW1")  # the same bytes again
    replies = wait_until(lambda: thread_replies(fake_slack, "C0001")[1:] and thread_replies(fake_slack, "C0001"))
    assert replies[1]["text"] == HELD_LINE
    assert len(aws_env.calls_to("DetectModerationLabels")) == 1  # the cached answer, at the new threshold
    assert "• moderation threshold 90% (set for this channel)" in answer(bot, "status")


def test_ignored_categories_dont_hold_an_image_until_ignore_none(start_bot, fake_slack, aws_env):
    bot = start_bot(**MODERATION)
    aws_env.moderation_labels = VIOLENCE

    assert answer(bot, "moderation ignore alcohol, VIOLENCE") == (
        "Done: set moderation to ignore `Violence`, `Alcohol`."  # the taxonomy's names and order
    )
    post_image(bot, fake_slack, "FIGNORED1")
    [first] = wait_until(lambda: thread_replies(fake_slack, "C0001"), what="the first reply")
    assert first["text"].startswith("Cat 99.2%")
    assert "• moderation ignores: `Violence`, `Alcohol` (set for this channel)" in answer(bot, "status")

    assert answer(bot, "moderation ignore none") == "Done: set moderation to count every category."
    post_image(bot, fake_slack, "FCOUNTED1")
    replies = wait_until(lambda: thread_replies(fake_slack, "C0001")[1:] and thread_replies(fake_slack, "C0001"))
    assert replies[1]["text"] == HELD_LINE
    assert "• moderation ignores: none (set for this channel)" in answer(bot, "status")
    assert channel_lines(fake_slack, 2) == [
        "<@UALICE> set moderation to ignore `Violence`, `Alcohol`.",
        "<@UALICE> set moderation to count every category.",
    ]


def test_an_unknown_category_is_refused_with_did_you_mean_and_changes_nothing(start_bot, fake_slack):
    bot = start_bot(**MODERATION)

    reply = answer(bot, "moderation ignore Alcohol, Gamblin")

    assert reply == "`Gamblin` is not one of Rekognition's moderation categories. Did you mean `Gambling`?"
    assert "• moderation ignores: none (default)" in answer(bot, "status")
    time.sleep(0.3)
    assert fake_slack.posts() == []


# ---- who may change it, and when it can't be turned on -----------------------------------------------------------


def test_only_admins_change_a_channels_moderation(start_bot, fake_slack, aws_env):
    bot = start_bot(**MODERATION, LABELBOT_ADMINS="UBOSS")
    aws_env.moderation_labels = VIOLENCE

    for text in ("moderation off", "moderation threshold 99", "moderation ignore Violence"):
        assert answer(bot, text, user="UALICE") == DENIED
    status = answer(bot, "status", user="UALICE")
    assert "• moderation on (default)" in status and "• moderation threshold 60% (default)" in status
    post_image(bot, fake_slack)
    [held] = wait_until(lambda: thread_replies(fake_slack, "C0001"), what="the held line")
    assert held["text"] == HELD_LINE  # still moderated

    assert answer(bot, "moderation off", user="UBOSS") == "Done: turned moderation off in this channel."
    assert channel_lines(fake_slack, 1) == ["<@UBOSS> turned moderation off in this channel."]  # not the refusals


def test_moderation_on_without_anyone_to_review_names_both_variables_and_changes_nothing(
    start_bot, fake_slack, aws_env
):
    bot = start_bot()  # neither LABELBOT_MODERATION_CHANNEL nor LABELBOT_ADMINS
    aws_env.moderation_labels = VIOLENCE

    reply = answer(bot, "moderation on")

    assert reply == NO_REVIEWERS
    assert "LABELBOT_MODERATION_CHANNEL" in reply and "LABELBOT_ADMINS" in reply
    assert "• moderation off (default)" in answer(bot, "status")
    post_image(bot, fake_slack)
    [reply] = wait_until(lambda: thread_replies(fake_slack, "C0001"), what="the reply")
    assert reply["text"].startswith("Cat 99.2%")
    assert operations(aws_env) == ["DetectLabels"]
    assert [p for p in fake_slack.posts() if "thread_ts" not in p] == []  # nothing announced
    # What needs no reviewer still works: a threshold for when moderation is turned on later.
    assert answer(bot, "moderation threshold 70") == "Done: set the moderation threshold to 70%."


# ---- the moderation channel: the start-up check and /labels status ------------------------------------------------


@pytest.mark.parametrize(("conversation", "warning"), [({"is_member": False}, NOT_A_MEMBER), (None, CANT_SEE)])
def test_a_moderation_channel_the_bot_cant_post_in_is_one_start_up_warning(
    start_bot, fake_slack, caplog, conversation, warning
):
    fake_slack.conversations["C0MOD"] = conversation
    bot = start_bot(**MODERATION)
    # On Lambda nothing is asked while the instance starts (inside an ack); then after its first invocation that
    # isn't an ack: here the scheduled sweep. The long-running bot asked as it started.
    assert moderation_channel_checks(fake_slack) == (0 if on_lambda(bot) else 1)
    bot.sweep()
    bot.sweep()
    answer(bot, "help")  # an ack, and on Lambda its lazy invocation

    [record] = wait_until(lambda: warnings_about_the_channel(caplog), what="the warning")
    time.sleep(0.3)
    assert warnings_about_the_channel(caplog) == [record]  # once
    assert record.getMessage().startswith(warning)
    assert "invite the bot (/invite @labelbot" in record.getMessage()
    assert moderation_channel_checks(fake_slack) == 1  # once per process, not per invocation


def test_no_warning_when_the_bot_is_in_the_moderation_channel(start_bot, fake_slack, caplog):
    fake_slack.conversations["C0MOD"] = {"is_member": True}
    bot = start_bot(**MODERATION)
    bot.sweep()
    wait_until(lambda: moderation_channel_checks(fake_slack) == 1, what="the check")
    time.sleep(0.2)

    assert warnings_about_the_channel(caplog) == []
    assert "• moderation notices go to <#C0MOD>" in answer(bot, "status")
    assert ":warning:" not in answer(bot, "status")


def test_status_says_where_notices_go_and_warns_when_the_bot_isnt_in_that_channel(start_bot, fake_slack):
    fake_slack.conversations["C0MOD"] = {"is_member": False}
    bot = start_bot(**MODERATION)

    status = answer(bot, "status")
    again = answer(bot, "status")

    assert status == again
    assert status.splitlines()[10:] == [
        "• moderation on (default)",
        "• moderation threshold 60% (default)",
        "• moderation ignores: none (default)",
        "• moderation notices go to <#C0MOD>",
        ":warning: I'm not a member of <#C0MOD> (LABELBOT_MODERATION_CHANNEL), so the notices of held images can't "
        "be posted there: invite me with `/invite @labelbot` in that channel.",
        "• your own images: labelled (`/labels me off` to opt out)",
    ]
    # One conversations.info for both: the start-up check's answer (on Lambda, the first status's) is remembered.
    assert moderation_channel_checks(fake_slack) == 1


def test_status_says_notices_go_as_dms_to_the_admins_without_a_moderation_channel(start_bot, fake_slack):
    bot = start_bot(LABELBOT_MODERATION="on", LABELBOT_ADMINS="UADMIN1,UADMIN2")

    status = answer(bot, "status", user="UADMIN1")

    assert status.endswith(
        "• moderation notices go as DMs to the admins (LABELBOT_ADMINS)\n"
        "• your own images: labelled (`/labels me off` to opt out)"
    )
    assert [c for c in fake_slack.calls if c.method == "conversations.info"] == []


# ---- the check itself, and the fake Slack's conversations.info ----------------------------------------------------


def test_the_check_remembers_an_answer_a_minute_and_warns_once(fake_slack, caplog):
    fake_slack.conversations["C0MOD"] = {"is_member": False}
    clock = Clock()
    check = ModerationChannelCheck(WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url), "C0MOD", clock=clock)

    check.check_at_start()
    check.check_at_start()  # once per process
    assert check.access() == "not_member"  # remembered: no second call
    assert moderation_channel_checks(fake_slack) == 1

    clock.now += 61
    assert check.access() == "not_member"  # asked again, still outside: no second warning
    fake_slack.conversations["C0MOD"] = {"is_member": True}  # someone invited the bot
    assert check.access() == "not_member"
    clock.now += 61
    assert check.access() == "member"
    assert moderation_channel_checks(fake_slack) == 3
    assert len(warnings_about_the_channel(caplog)) == 1

    fake_slack.fail_next("conversations.info", status=429, error="ratelimited", headers={"Retry-After": "30"})
    clock.now += 61
    assert check.access() is None  # Slack didn't say: nothing remembered, nothing warned
    assert check.access() == "member"
    assert len(warnings_about_the_channel(caplog)) == 1


def test_without_a_moderation_channel_the_check_asks_nothing(fake_slack):
    check = ModerationChannelCheck(WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url), None)

    check.check_at_start()

    assert check.access() is None
    assert fake_slack.calls == []


def test_the_fake_slacks_conversations_info_answers_as_slack_does(fake_slack):
    fake_slack.conversations.update(C0OUT={"is_member": False}, G0HIDDEN=None)
    slack = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url, retry_handlers=[])

    assert slack.conversations_info(channel="C0001")["channel"]["is_member"] is True
    assert slack.conversations_info(channel="C0OUT")["channel"]["is_member"] is False
    for channel in ("G0HIDDEN", ""):
        with pytest.raises(SlackApiError, match="channel_not_found"):
            slack.conversations_info(channel=channel)
    with pytest.raises(SlackApiError, match="invalid_auth"):
        WebClient(token="xoxb-wrong", base_url=fake_slack.api_url).conversations_info(channel="C0001")
    fake_slack.rate_limits = SlackRateLimits(rules={"conversations.info": (Rule(Limit(1)),)})
    slack.conversations_info(channel="C0001")
    with pytest.raises(SlackApiError) as limited:
        slack.conversations_info(channel="C0001")
    assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"]
