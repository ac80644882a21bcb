"""Usage counting end to end (both runtimes): every Rekognition attempt the bot makes, retries included, is counted in
the month's usage, per API, and the counts equal the fake Rekognition's own record of the calls it received."""

from __future__ import annotations

import calendar
import collections
import io
import json
import time

from PIL import Image
from slack_sdk import WebClient

from bot.usage import CallCounter, usage_month
from bot.usage_notices import CallLimitNotices, limit_reached_line
from tests.conftest import BOT_TOKEN, both_runtimes, fixture_bytes
from tests.slack_requests import file_share_event

pytestmark = [both_runtimes]

SCREENSHOT = [{"Name": "Screenshot", "Confidence": 97.0, "Parents": [{"Name": "Text"}]}]


def test_every_attempt_is_counted_per_api_as_the_fake_rekognition_received_it(start_bot, fake_slack, aws_env):
    aws_env.labels = SCREENSHOT  # text on auto: DetectText runs too
    aws_env.text_lines = [("Deploy failed", 99.0, (0.1, 0.1, 0.5, 0.1))]
    aws_env.fail_next("ThrottlingException", 400, times=2, operation="DetectLabels")  # botocore retries them
    bot = start_bot()
    photos = [
        fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "a.jpg", "image/jpeg", "jpg"),
        fake_slack.add_file("F2", fixture_bytes("rocket.jpg"), "b.jpg", "image/jpeg", "jpg"),
    ]
    for photo in photos:
        bot.post_event(file_share_event("C0001", [photo]))
    fake_slack.wait_for_posts(2)

    month = usage_month(time.time())
    deadline = time.monotonic() + 5
    received = collections.Counter(call.operation for call in aws_env.calls)
    while bot.services.stores.usage.month_usage(month).total_calls < sum(received.values()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    counted = bot.services.stores.usage.month_usage(month).calls

    assert received == {"DetectLabels": 4, "DetectText": 2}  # 2 images, 2 throttled attempts retried
    assert counted == {"DetectLabels": 4, "DetectModerationLabels": 0, "DetectText": 2}

    again = fake_slack.add_file("F3", fixture_bytes("cat.jpg"), "a-again.jpg", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0002", [again]))  # a re-post: answered from the caches
    broken = fake_slack.add_file("F4", fixture_bytes("cat.jpg")[:2000], "broken.jpg", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0001", [broken]))
    fake_slack.wait_for_posts(4)
    expected = {"seen": 4, "labelled": 3, "held": 0, "failed": 1, "limited": 0, "cache_hits": 1}
    while bot.services.stores.usage.month_usage(month).images != expected:
        assert time.monotonic() < deadline + 10, bot.services.stores.usage.month_usage(month)
        time.sleep(0.05)
    assert bot.services.stores.usage.month_usage(month).busiest == (("C0001", 3), ("C0002", 1))
    assert bot.services.stores.usage.month_usage(month).total_calls == 6  # the re-post and the broken file: none


def photo(fake_slack, file_id: str, shade: int) -> dict:
    """A distinct JPEG (its own bytes, so no cache answers it) as a Slack file."""
    buffer = io.BytesIO()
    Image.new("RGB", (200, 160), (shade, 90, 200 - shade)).save(buffer, "JPEG")
    return fake_slack.add_file(file_id, buffer.getvalue(), f"{file_id}.jpg", "image/jpeg", "jpg")


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_monthly_limit_stops_calls_exactly_tells_the_channel_once_a_day_and_the_admins_at_80_and_100_percent(
    start_bot, fake_slack, aws_env
):
    bot = start_bot(LABELBOT_MONTHLY_CALL_LIMIT="5", LABELBOT_ADMINS="UALICE,UBOB")
    replied = lambda ts: any(p.get("thread_ts") == ts for p in fake_slack.posts())  # noqa: E731
    for n in range(4):  # 4 of 5 calls: 80 %
        bot.post_event(file_share_event("C0001", [photo(fake_slack, f"F{n}", n * 40)], ts=f"1700000000.00000{n}"))
        wait_until(lambda n=n: replied(f"1700000000.00000{n}"))
    dms = lambda: [p for p in fake_slack.posts() if p["channel"] in ("UALICE", "UBOB")]  # noqa: E731
    wait_until(lambda: len(dms()) == 2)
    assert all("4 of its 5 Rekognition calls" in p["text"] and "80%" in p["text"] for p in dms())

    bot.post_event(file_share_event("C0001", [photo(fake_slack, "F4", 200)], ts="1700000000.000004"))  # the 5th
    wait_until(lambda: len(dms()) == 4 and replied("1700000000.000004"))  # 100 %: one more DM each
    assert all("reached its limit of 5" in p["text"] for p in dms()[2:])
    replies = len(fake_slack.posts())

    # Past the limit: two new images in C0001, one in C0002, and a re-post of one already labelled.
    bot.post_event(file_share_event("C0001", [photo(fake_slack, "F5", 10)], ts="1700000000.000005"))
    bot.post_event(file_share_event("C0001", [photo(fake_slack, "F6", 20)], ts="1700000000.000006"))
    bot.post_event(file_share_event("C0002", [photo(fake_slack, "F7", 30)], ts="1700000000.000007"))
    again = photo(fake_slack, "F8", 0)  # F0's very bytes
    bot.post_event(file_share_event("C0002", [again], ts="1700000000.000008"))

    month = usage_month(time.time())
    wait_until(lambda: bot.services.stores.usage.month_usage(month).images["seen"] == 9)
    wait_until(lambda: replied("1700000000.000008"))
    posted = fake_slack.posts()[replies:]
    lines = [p for p in posted if p["text"] == limit_reached_line(5)]
    assert sorted(p["channel"] for p in lines) == ["C0001", "C0002"]  # once a day per channel, in the channel
    assert all("thread_ts" not in p or not p["thread_ts"] for p in lines)
    answered = [p for p in posted if p.get("thread_ts")]
    assert [p["thread_ts"] for p in answered] == ["1700000000.000008"]  # the cache hit, still answered
    assert len(aws_env.calls) == 5  # exactly the limit reached Rekognition
    usage = bot.services.stores.usage.month_usage(month)
    assert usage.total_calls == 5
    assert usage.images == {"seen": 9, "labelled": 6, "held": 0, "failed": 0, "limited": 3, "cache_hits": 1}
    assert len(dms()) == 4  # nothing more to the admins
    assert bot.services.stores.queue.queue_stats().depth == 0  # the limited images are done: never labelled later


def test_the_limits_notices_follow_utc_days_and_months_with_an_injected_clock(make_store, fake_slack):
    store = make_store()
    now = [calendar.timegm((2026, 12, 30, 23, 0, 0))]
    counter = CallCounter(store.usage, limit=10, clock=lambda: now[0])
    slack = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    notices = CallLimitNotices(store.usage, slack, counter, ["UADMIN"], clock=lambda: now[0])
    to = lambda channel: [p["text"] for p in fake_slack.posts() if p["channel"] == channel]  # noqa: E731

    assert all(counter("DetectLabels") for _ in range(7))
    notices.after_job("C1", limited=False)
    assert to("UADMIN") == []  # 70 %
    assert counter("DetectLabels")
    notices.after_job("C1", limited=False)
    notices.after_job("C1", limited=False)
    assert len(to("UADMIN")) == 1 and "8 of its 10" in to("UADMIN")[0]  # 80 %, once
    assert counter("DetectText") and counter("DetectText")
    assert not counter("DetectLabels")  # the 11th is refused
    notices.after_job("C1", limited=True)
    notices.after_job("C1", limited=True)
    assert len(to("UADMIN")) == 2 and "reached its limit of 10" in to("UADMIN")[1]
    assert to("C1") == [limit_reached_line(10)]  # once that day

    now[0] += 1800  # 23:30 UTC on the 30th, then the 31st
    notices.after_job("C1", limited=True)
    assert len(to("C1")) == 1
    now[0] += 3600
    notices.after_job("C1", limited=True)
    assert len(to("C1")) == 2  # a new UTC day: told again

    now[0] = calendar.timegm((2027, 1, 1, 0, 0, 0))  # a new month: its calls start from nothing
    assert counter("DetectLabels")
    notices.after_job("C1", limited=False)
    assert len(to("UADMIN")) == 2 and len(to("C1")) == 2
    assert store.usage.month_usage("2027-01").total_calls == 1


def test_usage_and_the_notices_sent_survive_a_restart(start_bot, fake_slack, aws_env):
    settings = {"LABELBOT_MONTHLY_CALL_LIMIT": "1", "LABELBOT_ADMINS": "UADMIN"}
    first = start_bot(**settings)
    first.post_event(file_share_event("C0001", [photo(fake_slack, "F1", 10)], ts="1700000000.000001"))
    dms = lambda: [p for p in fake_slack.posts() if p["channel"] == "UADMIN"]  # noqa: E731
    wait_until(lambda: len(dms()) == 2)  # the one call is 80 % and 100 % of the limit
    first.close()  # an admin restarts the bot

    again = start_bot(**settings)
    again.post_event(file_share_event("C0001", [photo(fake_slack, "F2", 20)], ts="1700000000.000002"))
    month = usage_month(time.time())
    wait_until(lambda: again.services.stores.usage.month_usage(month).images["limited"] == 1)
    wait_until(lambda: any(p["text"] == limit_reached_line(1) for p in fake_slack.posts()))

    assert len(aws_env.calls) == 1  # the month's count went on from the store, not from 0
    assert again.services.stores.usage.month_usage(month).images["seen"] == 2
    time.sleep(0.3)
    assert len(dms()) == 2  # the admins aren't told again


def test_past_the_limit_a_refused_detect_text_leaves_the_labels_to_go_out_alone(start_bot, fake_slack, aws_env):
    aws_env.labels = SCREENSHOT
    aws_env.text_lines = [("Deploy failed", 99.0, (0.1, 0.1, 0.5, 0.1))]
    bot = start_bot(LABELBOT_MONTHLY_CALL_LIMIT="1", LABELBOT_TEXT="on")
    shot = fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "shot.png", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0001", [shot], ts="1700000000.000001"))
    again = fake_slack.add_file("F2", fixture_bytes("cat.jpg"), "shot-again.png", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0001", [again], ts="1700000000.000002"))

    month = usage_month(time.time())
    wait_until(lambda: bot.services.stores.usage.month_usage(month).images["seen"] == 2)
    replies = [p for p in fake_slack.wait_for_posts(3) if p.get("thread_ts")]
    assert [p["text"].split(" · ")[0] for p in replies] == ["Screenshot 97.0%", "Screenshot 97.0%"]
    assert all("Deploy failed" not in json.dumps(p) for p in replies)  # no text line: DetectText was never sent
    assert [p["text"] for p in fake_slack.posts() if not p.get("thread_ts")] == [limit_reached_line(1)]
    assert [call.operation for call in aws_env.calls] == ["DetectLabels"]
    usage = bot.services.stores.usage.month_usage(month)
    assert usage.images == {"seen": 2, "labelled": 2, "held": 0, "failed": 0, "limited": 0, "cache_hits": 1}
