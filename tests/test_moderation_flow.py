"""Moderation end to end: an image DetectModerationLabels flags is held (a neutral line in its thread, a notice for
the admins), and the notice's buttons, pressed with block_actions payloads signed like Slack's, decide it. Through
the real Bolt app, the fake Slack and the loopback Rekognition, as the long-running bot and as on AWS Lambda."""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time

import pytest

from bot.moderation_notice import KEEP_ACTION, RELEASE_ACTION
from bot.moderation_review import ONLY_ADMINS
from bot.render import HELD_LINE
from bot.settings import ChannelOverrides
from bot.usage import usage_month
from tests import slack_requests
from tests.conftest import both_runtimes, fixture_bytes, server_only, slack_rate_limits
from tests.fakes.slack import dm_channel
from tests.fakes.slack_rate_limits import rate_limited_by_method
from tests.pictures import animation, is_unsafe_frame
from tests.slack_requests import block_actions, file_share_event

pytestmark = both_runtimes

MODERATION = {"LABELBOT_MODERATION": "on", "LABELBOT_MODERATION_CHANNEL": "C0MOD"}
VIOLENCE = [
    {"Name": "Violence", "Confidence": 91.0, "ParentName": "", "TaxonomyLevel": 1},
    {"Name": "Graphic Violence", "Confidence": 91.0, "ParentName": "Violence", "TaxonomyLevel": 2},
]


def post_image(bot, fake_slack, file_id: str = "FCAT1", channel: str = "C0001") -> dict:
    file = fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), f"{file_id.lower()}.jpg", "image/jpeg", "jpg")
    message = file_share_event(channel, [file], user="UPOSTER")
    assert bot.post_event(message).status == 200
    return message


def hold_one(bot, fake_slack, aws_env, file_id: str = "FCAT1") -> tuple[dict, dict, dict]:
    """Post an image moderation flags: (the event, the bot's reply in its thread, the notice in C0MOD)."""
    aws_env.moderation_labels = VIOLENCE
    message = post_image(bot, fake_slack, file_id)
    posts = wait_for_posts_to(fake_slack, {"C0001": 1, "C0MOD": 1})
    reply = fake_slack.message("C0001", posts["C0001"][0]["ts"])
    notice = copy.deepcopy(fake_slack.message("C0MOD", posts["C0MOD"][0]["ts"]))  # with its buttons, as posted
    return message, reply, notice


def wait_for_posts_to(fake_slack, counts: dict[str, int], timeout: float = 15.0) -> dict[str, list[dict]]:
    """The bot's messages (as the fake holds them now) in each channel, once there are at least that many."""
    deadline = time.monotonic() + timeout
    while True:
        found = {channel: [m for m in fake_slack.thread_messages if m["channel"] == channel] for channel in counts}
        if all(len(found[channel]) >= count for channel, count in counts.items()):
            return found
        assert time.monotonic() < deadline, f"expected posts {counts}, got { {c: len(m) for c, m in found.items()} }"
        time.sleep(0.02)


def press(bot, notice: dict, action_id: str, user: str, response_url: str = "") -> slack_requests.HttpAnswer:
    """A press of the notice's button; its ephemeral answers go to the fake's response_url.press unless given."""
    response_url = response_url or f"{bot.fake_slack.url}/api/response_url.press"
    payload = block_actions(notice, action_id, user=user, response_url=response_url)
    return slack_requests.post_interaction(bot.events_url, payload)


def wait_until(check, timeout: float = 15.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return found


def detect_labels_calls(aws_env) -> int:
    return len(aws_env.calls_to("DetectLabels"))


def test_a_flagged_image_is_held_with_a_neutral_line_and_a_notice_for_the_admins(start_bot, fake_slack, aws_env):
    bot = start_bot(**MODERATION)
    bot.services.stores.settings.save_overrides("C0001", ChannelOverrides(tags=True))

    message, reply, notice = hold_one(bot, fake_slack, aws_env)

    assert reply["text"] == HELD_LINE and reply["thread_ts"] == message["ts"]
    assert "Violence" not in json.dumps(reply["blocks"])  # the channel never sees the category
    shown = json.dumps(notice["blocks"])
    assert "<@UPOSTER>" in shown and "<#C0001>" in shown and "Violence 91%" in shown
    assert f"https://fake.slack.com/archives/C0001/p{message['ts'].replace('.', '')}" in shown  # the permalink
    assert [call.operation for call in aws_env.calls] == ["DetectModerationLabels"]  # no DetectLabels
    time.sleep(0.3)
    assert fake_slack.calls_to("reactions.add") == []  # tags on, and still no emoji
    assert bot.services.stores.tags.search_images(("cat",), channel_id=None) == []  # nor an index entry
    held = bot.services.stores.moderation.held("C0001", message["ts"], "FCAT1")
    assert (held.decision, held.notice_channel, held.notice_ts) == (None, "C0MOD", notice["ts"])


def test_looks_fine_labels_the_image_and_updates_the_held_line_and_the_notice(start_bot, fake_slack, aws_env):
    fake_slack.users["UADMIN"] = {"is_admin": True}
    bot = start_bot(**MODERATION)
    bot.services.stores.settings.save_overrides("C0001", ChannelOverrides(tags=True))
    message, reply, notice = hold_one(bot, fake_slack, aws_env)

    assert press(bot, notice, RELEASE_ACTION, "UADMIN").status == 200

    wait_until(lambda: fake_slack.message("C0001", reply["ts"]).get("edited"), what="the held line's update")
    updated = fake_slack.message("C0001", reply["ts"])
    assert updated["text"].startswith("Cat 99.2%")  # the held line is now the labels
    assert updated["thread_ts"] == message["ts"]
    assert len([m for m in fake_slack.thread_messages if m["channel"] == "C0001"]) == 1  # no second reply
    wait_until(lambda: fake_slack.reactions("C0001", message["ts"]), what="the emoji")
    assert "cat" in fake_slack.reactions("C0001", message["ts"])
    [found] = bot.services.stores.tags.search_images(("cat",), channel_id=None)
    assert found.file_id == "FCAT1"
    decided = wait_until(
        lambda: fake_slack.message("C0MOD", notice["ts"]).get("edited") and fake_slack.message("C0MOD", notice["ts"])
    )
    assert all(block["type"] != "actions" for block in decided["blocks"])  # the buttons are gone
    assert "Looks fine" in json.dumps(decided["blocks"]) and "<@UADMIN>" in json.dumps(decided["blocks"])
    assert detect_labels_calls(aws_env) == 1
    held = bot.services.stores.moderation.held("C0001", message["ts"], "FCAT1")
    assert (held.decision, held.decided_by) == ("released", "UADMIN")


def test_keep_flagged_does_nothing_more_to_the_image(start_bot, fake_slack, aws_env):
    fake_slack.users["UADMIN"] = {"is_owner": True}
    bot = start_bot(**MODERATION)
    message, reply, notice = hold_one(bot, fake_slack, aws_env)

    press(bot, notice, KEEP_ACTION, "UADMIN")

    decided = wait_until(
        lambda: fake_slack.message("C0MOD", notice["ts"]).get("edited") and fake_slack.message("C0MOD", notice["ts"])
    )
    assert "Keep flagged" in json.dumps(decided["blocks"])
    assert all(block["type"] != "actions" for block in decided["blocks"])
    time.sleep(0.3)
    assert fake_slack.message("C0001", reply["ts"])["text"] == HELD_LINE
    assert detect_labels_calls(aws_env) == 0
    assert bot.services.stores.moderation.held("C0001", message["ts"], "FCAT1").decision == "kept"


def test_someone_not_an_admin_is_told_only_admins_can_decide(start_bot, fake_slack, aws_env):
    bot = start_bot(**MODERATION, LABELBOT_ADMINS="UADMIN")
    message, _, notice = hold_one(bot, fake_slack, aws_env)

    press(bot, notice, RELEASE_ACTION, "UBOB", response_url=f"{fake_slack.url}/api/response_url.UBOB")

    [answer] = wait_until(lambda: [c for c in fake_slack.calls if c.method == "response_url.UBOB"])
    assert answer.args["text"] == ONLY_ADMINS and answer.args["response_type"] == "ephemeral"
    assert bot.services.stores.moderation.held("C0001", message["ts"], "FCAT1").decision is None
    assert "edited" not in fake_slack.message("C0MOD", notice["ts"])
    assert detect_labels_calls(aws_env) == 0


def test_presses_at_once_and_a_retried_press_give_one_decision_and_one_labelling(start_bot, fake_slack, aws_env):
    fake_slack.users.update(UADMIN={"is_admin": True}, UOTHER={"is_admin": True}, ULATE={"is_admin": True})
    bot = start_bot(**MODERATION)
    message, reply, notice = hold_one(bot, fake_slack, aws_env)

    presses = [
        threading.Thread(target=press, args=(bot, notice, RELEASE_ACTION, user))
        for user in ("UADMIN", "UOTHER", "UADMIN")
    ]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join()
    wait_until(lambda: fake_slack.message("C0001", reply["ts"]).get("edited"), what="the held line's update")
    press(bot, notice, KEEP_ACTION, "ULATE", response_url=f"{fake_slack.url}/api/response_url.late")
    [late] = wait_until(lambda: [c for c in fake_slack.calls if c.method == "response_url.late"])
    decider = bot.services.stores.moderation.held("C0001", message["ts"], "FCAT1").decided_by
    assert late.args["text"] == f"<@{decider}> decided on this image already: *Looks fine*."  # too late, and told so
    press(bot, notice, KEEP_ACTION, decider, response_url=f"{fake_slack.url}/api/response_url.own")
    [own] = wait_until(lambda: [c for c in fake_slack.calls if c.method == "response_url.own"])
    assert own.args["text"] == "You decided on this image already: *Looks fine*."
    time.sleep(0.3)

    assert detect_labels_calls(aws_env) == 1
    updates = [c for c in fake_slack.calls_to("chat.update") if c["channel"] == "C0001"]
    assert len(updates) == 1
    held = bot.services.stores.moderation.held("C0001", message["ts"], "FCAT1")
    assert held.decision == "released"


def test_a_released_image_posted_again_is_labelled_without_a_second_moderation_call(start_bot, fake_slack, aws_env):
    fake_slack.users["UADMIN"] = {"is_admin": True}
    bot = start_bot(**MODERATION)
    _, reply, notice = hold_one(bot, fake_slack, aws_env)
    press(bot, notice, RELEASE_ACTION, "UADMIN")
    wait_until(lambda: fake_slack.message("C0001", reply["ts"]).get("edited"), what="the held line's update")

    post_image(bot, fake_slack, "FAGAIN1")  # the same bytes

    posts = wait_for_posts_to(fake_slack, {"C0001": 2})
    assert posts["C0001"][1]["text"].startswith("Cat 99.2%")
    assert len(aws_env.calls_to("DetectModerationLabels")) == 1  # its answer is cached by content
    assert len([m for m in fake_slack.thread_messages if m["channel"] == "C0MOD"]) == 1  # no second notice


def test_a_held_image_posted_again_is_held_again_from_the_cache(start_bot, fake_slack, aws_env):
    bot = start_bot(**MODERATION)
    hold_one(bot, fake_slack, aws_env)

    post_image(bot, fake_slack, "FAGAIN1")

    posts = wait_for_posts_to(fake_slack, {"C0001": 2, "C0MOD": 2})
    assert posts["C0001"][1]["text"] == HELD_LINE
    assert [call.operation for call in aws_env.calls] == ["DetectModerationLabels"]


@server_only
@slack_rate_limits()
def test_a_burst_of_held_images_sends_its_notices_a_second_apart_without_a_429(start_bot, fake_slack, aws_env):
    """Held images from many channels all notify one moderation channel: Slack takes about one post a second there."""
    bot = start_bot(**MODERATION)
    aws_env.moderation_labels = VIOLENCE
    for index in range(6):
        post_image(bot, fake_slack, f"FHELD{index}", channel=f"C000{index}")

    wait_for_posts_to(fake_slack, {"C0MOD": 6})
    notices = [c for c in fake_slack.calls if c.method == "chat.postMessage" and c.args.get("channel") == "C0MOD"]
    assert len(notices) == 6  # none refused and sent again
    assert rate_limited_by_method(fake_slack.calls) == {}
    arrivals = sorted(call.received_at for call in notices)
    assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(arrivals))


def test_a_notice_slack_refused_is_sent_again_by_the_upkeep(start_bot, fake_slack, aws_env, monkeypatch):
    monkeypatch.setattr("bot.moderation_review.NOTICE_GRACE", 0.0)  # held long enough ago not to be mid-send
    bot = start_bot(**MODERATION)
    aws_env.moderation_labels = VIOLENCE
    fake_slack.fail_next("chat.postMessage", error="internal_error")  # the notice, posted before the held line
    message = post_image(bot, fake_slack)
    wait_for_posts_to(fake_slack, {"C0001": 1})
    assert bot.services.stores.moderation.held("C0001", message["ts"], "FCAT1").notice_ts == ""

    bot.sweep()

    [notice] = wait_for_posts_to(fake_slack, {"C0MOD": 1})["C0MOD"]
    assert "<@UPOSTER>" in json.dumps(notice["blocks"])
    held = bot.services.stores.moderation.held
    # recorded just after Slack's answer, which the fake has already shown us
    assert wait_until(lambda: held("C0001", message["ts"], "FCAT1").notice_ts == notice["ts"], what="the notice_ts")
    bot.sweep()  # sent: not again
    time.sleep(0.3)
    assert len([m for m in fake_slack.thread_messages if m["channel"] == "C0MOD"]) == 1


def test_without_a_moderation_channel_each_admin_gets_the_notice_as_a_dm(start_bot, fake_slack, aws_env):
    fake_slack.users["UADMIN1"] = {"is_admin": True, "locale": "ja-JP"}  # each DM in its admin's language
    bot = start_bot(LABELBOT_MODERATION="on", LABELBOT_ADMINS="UADMIN1,UADMIN2")
    aws_env.moderation_labels = VIOLENCE
    message = post_image(bot, fake_slack)

    posts = wait_for_posts_to(fake_slack, {dm_channel("UADMIN1"): 1, dm_channel("UADMIN2"): 1, "C0001": 1})
    first = copy.deepcopy(posts[dm_channel("UADMIN1")][0])
    assert "<@UPOSTER>" in json.dumps(first["blocks"])
    japanese, english = json.dumps(first, ensure_ascii=False), json.dumps(posts[dm_channel("UADMIN2")][0])
    assert "確認待ちで保留した画像があります" in japanese and "暴力 91%" in japanese and "問題なし" in japanese
    assert "An image was held for review" in english and "Violence 91%" in english and "Looks fine" in english

    press(bot, first, RELEASE_ACTION, "UADMIN1")  # pressed in the DM: that notice is updated
    wait_until(lambda: fake_slack.message(dm_channel("UADMIN1"), first["ts"]).get("edited"), what="the DM update")
    decided = json.dumps(fake_slack.message(dm_channel("UADMIN1"), first["ts"])["blocks"], ensure_ascii=False)
    assert "*問題なし*: <@UADMIN1> さんの判断でラベルを付けました" in decided
    assert bot.services.stores.moderation.held("C0001", message["ts"], "FCAT1").decided_by == "UADMIN1"


def test_a_failed_moderation_call_fails_closed_and_the_thread_says_it_could_not_be_checked(
    start_bot, fake_slack, aws_env
):
    bot = start_bot(**MODERATION)
    aws_env.fail_next("InternalServerError", status=500, times=5, operation="DetectModerationLabels")
    post_image(bot, fake_slack)

    [reply] = fake_slack.wait_for_posts(1, timeout=30)
    assert reply["text"].startswith("I couldn't check this image right now")
    assert len(aws_env.calls_to("DetectModerationLabels")) == 5  # botocore's retries, each paced
    assert detect_labels_calls(aws_env) == 0  # a failure is never taken for "safe"


def test_a_channel_with_moderation_off_costs_no_moderation_call(start_bot, fake_slack, aws_env):
    bot = start_bot(**MODERATION)
    bot.services.stores.settings.save_overrides("C0001", ChannelOverrides(moderation=False))
    aws_env.moderation_labels = VIOLENCE
    post_image(bot, fake_slack)

    [reply] = fake_slack.wait_for_posts(1)
    assert reply["text"].startswith("Cat 99.2%")
    assert [call.operation for call in aws_env.calls] == ["DetectLabels"]


@server_only
def test_a_held_image_and_a_press_survive_a_restart(start_bot, fake_slack, aws_env):
    fake_slack.users["UADMIN"] = {"is_admin": True}
    bot = start_bot(**MODERATION)
    message, reply, notice = hold_one(bot, fake_slack, aws_env)
    bot.close()

    again = start_bot(**MODERATION)
    press(again, notice, RELEASE_ACTION, "UADMIN")

    wait_until(lambda: fake_slack.message("C0001", reply["ts"]).get("edited"), what="the held line's update")
    assert fake_slack.message("C0001", reply["ts"])["text"].startswith("Cat 99.2%")
    assert again.services.stores.moderation.held("C0001", message["ts"], "FCAT1").decision == "released"


def post_animation(bot, fake_slack, data: bytes, file_id: str = "FGIF1", channel: str = "C0001") -> dict:
    file = fake_slack.add_file(file_id, data, f"{file_id.lower()}.gif", "image/gif", "gif")
    message = file_share_event(channel, [file], user="UPOSTER")
    assert bot.post_event(message).status == 200
    return message


def moderation_calls(aws_env) -> int:
    return len(aws_env.calls_to("DetectModerationLabels"))


@pytest.mark.parametrize("unsafe", [6, 9], ids=["7th-frame", "last-frame"])
def test_an_animation_is_held_when_only_one_later_frame_counts(start_bot, fake_slack, aws_env, unsafe):
    aws_env.moderation_by = lambda image: VIOLENCE if is_unsafe_frame(image) else None
    bot = start_bot(**MODERATION)

    message = post_animation(bot, fake_slack, animation(10, unsafe=(unsafe,)))

    posts = wait_for_posts_to(fake_slack, {"C0001": 1, "C0MOD": 1})
    assert posts["C0001"][0]["thread_ts"] == message["ts"] and HELD_LINE in posts["C0001"][0]["text"]
    assert moderation_calls(aws_env) == 10  # every frame of ten distinct ones, one call each
    assert aws_env.calls_to("DetectLabels") == []


def test_a_safe_animation_costs_one_call_per_distinct_frame_counted_in_usage_and_a_repost_none(
    start_bot, fake_slack, aws_env
):
    bot = start_bot(**MODERATION)

    post_animation(bot, fake_slack, animation(10, distinct=3))  # three pictures, shown in turn

    [reply] = fake_slack.wait_for_posts(1)
    assert reply["text"].startswith("Cat 99.2%")  # labelled from its first frame
    assert moderation_calls(aws_env) == 3 and len(aws_env.calls_to("DetectLabels")) == 1
    month = bot.services.stores.usage.month_usage(usage_month(time.time()))
    assert month.calls["DetectModerationLabels"] == 3  # each checked frame counts, against the monthly cap too

    post_animation(bot, fake_slack, animation(10, distinct=3), file_id="FGIF2")  # the same bytes again

    fake_slack.wait_for_posts(2)
    assert moderation_calls(aws_env) == 3 and len(aws_env.calls_to("DetectLabels")) == 1  # from the caches


def test_labelbot_moderation_frames_caps_the_frames_checked(start_bot, fake_slack, aws_env):
    bot = start_bot(**MODERATION, LABELBOT_MODERATION_FRAMES="3")

    post_animation(bot, fake_slack, animation(30))

    fake_slack.wait_for_posts(1)
    assert moderation_calls(aws_env) == 3  # the first, the middle and the last


def test_an_animation_too_long_to_check_whole_is_explained_in_its_thread_and_not_labelled(
    start_bot, fake_slack, aws_env, monkeypatch
):
    monkeypatch.setattr("bot.images.MAX_ANIMATION_FRAMES", 20)  # the budget's check, with a small animation
    bot = start_bot(**MODERATION)

    post_animation(bot, fake_slack, animation(25))

    [reply] = fake_slack.wait_for_posts(1)
    assert "25 frames" in reply["text"] and "too many for me to check every part of it" in reply["text"]
    assert aws_env.calls == []
