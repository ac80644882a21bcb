"""Usage: the month an instant counts in (UTC boundaries, an injected clock), and the /labels usage answer, pure and
end to end (an admin sees the workspace, anyone else their channel)."""

from __future__ import annotations

import calendar
import time

from bot.i18n import words_for
from bot.pricing import PRICES_USD
from bot.store.protocols import MonthUsage
from bot.usage import CallCounter, usage_month
from bot.usage_report import describe_usage, display_width, limit_line, month_name, previous_month
from tests.conftest import fixture_bytes
from tests.slack_requests import file_share_event

MIDNIGHT = calendar.timegm((2026, 12, 1, 0, 0, 0))  # 2026-12-01 00:00:00 UTC


def usage(month: str, seen: int = 0, labels: int = 0, text: int = 0, busiest=()) -> MonthUsage:
    calls = {"DetectLabels": labels, "DetectModerationLabels": 0, "DetectText": text}
    images = {"seen": seen, "labelled": seen, "held": 0, "failed": 0, "limited": 0, "cache_hits": 0}
    return MonthUsage(month, calls, images, busiest)


def test_months_turn_at_midnight_utc_whatever_the_local_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: its December starts 14 hours earlier
    time.tzset()
    try:
        assert usage_month(MIDNIGHT - 1) == "2026-11" and usage_month(MIDNIGHT) == "2026-12"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert previous_month("2026-12") == "2026-11" and previous_month("2027-01") == "2026-12"
    assert month_name("2027-01") == "January 2027"


def test_each_call_counts_in_the_month_of_its_instant(make_store):
    store = make_store()
    now = [MIDNIGHT - 0.5]
    count = CallCounter(store.usage, clock=lambda: now[0])

    count("DetectLabels")
    now[0] = MIDNIGHT
    count("DetectText")

    assert store.usage.month_usage("2026-11").calls["DetectLabels"] == 1
    assert store.usage.month_usage("2026-12").calls == {"DetectLabels": 0, "DetectModerationLabels": 0, "DetectText": 1}


def test_the_answer_sets_this_month_beside_last_month_with_calls_cost_and_busiest_channels():
    this = usage("2026-12", seen=1500, labels=1200, text=300, busiest=(("C1", 900), ("C2", 600)))
    answer = describe_usage(this, usage("2026-11", seen=10, labels=10), PRICES_USD, channel_id=None)

    assert "December 2026" in answer and "November 2026" in answer and "in this workspace" in answer
    table = answer.split("```")[1].splitlines()
    assert [line.split()[-2:] for line in table if line.startswith("estimated cost")] == [["$1.50", "$0.01"]]
    assert [line.split()[-2:] for line in table if line.strip().startswith("DetectText")] == [["300", "0"]]
    assert "Busiest channels this month (images seen): <#C1> 900 · <#C2> 600" in answer
    assert "LABELBOT_PRICE_PER_CALL_USD" in answer

    costly = describe_usage(this, usage("2026-11"), {**PRICES_USD, "DetectText": 0.01}, channel_id=None)
    assert "$4.20" in costly  # 1,200 x $0.001 + 300 x $0.01


def test_the_answer_says_how_much_of_the_monthly_limit_is_used():
    answer = describe_usage(usage("2026-12", labels=40), usage("2026-11"), PRICES_USD, channel_id=None, limit=50)
    assert "Monthly limit: 40 of 50 Rekognition calls (80%)." in answer
    assert limit_line(50, 50) == (
        "Monthly limit: 50 of 50 Rekognition calls (100%): reached, new images are not labelled until next month."
    )
    assert limit_line(1500, 1501) == "Monthly limit: 1,500 of 1,501 Rekognition calls (99.9%)."  # never rounded up
    assert "LABELBOT_MONTHLY_CALL_LIMIT is not set" in describe_usage(
        usage("2026-12"), usage("2026-11"), PRICES_USD, channel_id=None
    )


def test_the_answer_in_japanese_keeps_its_columns_lined_up():
    this = usage("2026-12", seen=1500, labels=1200, text=300)
    answer = describe_usage(this, usage("2026-11"), PRICES_USD, channel_id=None, limit=5000, tr=words_for("ja"))

    assert answer.startswith("*このワークスペースでの labelbot の利用状況*（暦月、UTC）")
    table = answer.split("```")[1].strip("\n").splitlines()
    assert "2026年12月" in table[0] and "2026年11月" in table[0]
    # A Japanese character takes two columns: every row's numbers end in the same column.
    assert len({display_width(line) for line in table}) == 1
    assert "月間上限: Rekognition の呼び出し 5,000 回中 1,500 回（30%）。" in answer


def test_a_channels_answer_says_the_calls_and_cost_are_the_workspaces():
    answer = describe_usage(usage("2026-12", seen=3, labels=3), usage("2026-11"), PRICES_USD, channel_id="C7")
    assert "in <#C7>" in answer and "Rekognition calls (whole workspace)" in answer and "Busiest" not in answer


def test_labels_usage_shows_an_admin_the_workspace_and_anyone_else_their_channel(start_bot, fake_slack, aws_env):
    bot = start_bot(LABELBOT_ADMINS="UALICE")
    for channel, file_id in (("C0001", "F1"), ("C0002", "F2"), ("C0002", "F3")):
        photo = fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), f"{file_id}.jpg", "image/jpeg", "jpg")
        bot.post_event(file_share_event(channel, [photo]))
    fake_slack.wait_for_posts(3)
    deadline = time.monotonic() + 5  # each job counts its image once its result is in
    while bot.services.stores.usage.month_usage(usage_month(time.time())).images["seen"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    admin = bot.command("usage", user="UALICE").json()
    other = bot.command("usage", channel="C0001", user="UBOB").json()

    assert admin["response_type"] == "ephemeral" and "in this workspace" in admin["text"]
    assert "<#C0002> 2 · <#C0001> 1" in admin["text"]
    assert seen_row(admin["text"]) == ["3", "0"]
    assert "in <#C0001>" in other["text"] and "Busiest" not in other["text"]
    assert seen_row(other["text"]) == ["1", "0"]
    assert "Rekognition calls (whole workspace)" in other["text"]


def seen_row(answer: str) -> list[str]:
    """This month's and last month's images seen, as the answer's table shows them."""
    return next(line for line in answer.splitlines() if line.startswith("images seen")).split()[-2:]
