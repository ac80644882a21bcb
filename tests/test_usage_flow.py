"""Usage counting end to end (both runtimes): every Rekognition attempt the bot makes, retries included, is counted in
the month's usage, per API, and the counts equal the fake Rekognition's own record of the calls it received."""

from __future__ import annotations

import collections
import time

from bot.usage import usage_month
from tests.conftest import both_runtimes, fixture_bytes
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
    expected = {"seen": 4, "labelled": 3, "held": 0, "failed": 1, "cache_hits": 1}
    while bot.services.stores.usage.month_usage(month).images != expected:
        assert time.monotonic() < deadline + 10, bot.services.stores.usage.month_usage(month)
        time.sleep(0.05)
    assert bot.services.stores.usage.month_usage(month).busiest == (("C0001", 3), ("C0002", 1))
    assert bot.services.stores.usage.month_usage(month).total_calls == 6  # the re-post and the broken file: none
