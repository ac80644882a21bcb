"""The usage counters (issue 16's store concern), on both backends: calls per month and API, the monthly cap exact
under concurrent callers, images by channel and outcome, months kept apart, and what survives a reopen."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.store.sqlite import open_sqlite_stores


@pytest.fixture
def usage(make_store):
    return make_store().usage


def test_calls_are_counted_per_api_and_month(usage):
    for api in ("DetectLabels", "DetectLabels", "DetectText", "DetectModerationLabels"):
        assert usage.count_call("2026-12", api)
    usage.count_call("2026-11", "DetectLabels")

    december = usage.month_usage("2026-12")

    assert december.calls == {"DetectLabels": 2, "DetectModerationLabels": 1, "DetectText": 1}
    assert december.total_calls == 4 and usage.month_usage("2026-11").total_calls == 1
    assert usage.month_usage("2027-01").calls == {"DetectLabels": 0, "DetectModerationLabels": 0, "DetectText": 0}


def test_the_cap_counts_every_api_together_and_stops_exactly_at_it(usage):
    # Each count answers the month's total with it: what the 80 % and 100 % notices are decided on.
    assert [usage.count_call("2026-12", api, limit=3) for api in ("DetectLabels", "DetectText", "DetectLabels")] == [
        1,
        2,
        3,
    ]
    assert usage.count_call("2026-12", "DetectModerationLabels", limit=3) is None
    assert usage.month_usage("2026-12").total_calls == 3  # the refused call was not counted
    assert usage.count_call("2026-12", "DetectText") == 4  # no limit: counted whatever the total
    assert usage.count_call("2027-01", "DetectLabels", limit=3) == 1  # a new month starts from nothing


def test_concurrent_callers_never_pass_the_cap(usage):
    with ThreadPoolExecutor(8) as pool:
        counted = list(pool.map(lambda _: usage.count_call("2026-12", "DetectLabels", limit=25), range(60)))

    assert sorted(total for total in counted if total is not None) == list(range(1, 26))
    assert counted.count(None) == 35 and usage.month_usage("2026-12").total_calls == 25


def test_a_notice_is_claimed_once_a_month_by_one_of_many_callers(usage):
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda _: usage.claim_notice("2026-12", "admins:80"), range(20)))

    assert claims.count(True) == 1
    assert usage.claim_notice("2026-12", "limit:C1:2026-12-07") is True
    assert usage.claim_notice("2026-12", "limit:C1:2026-12-07") is False
    assert usage.claim_notice("2026-12", "limit:C1:2026-12-08") is True  # the next day's
    assert usage.claim_notice("2027-01", "admins:80") is True  # the next month's
    assert usage.month_usage("2026-12").total_calls == 0  # notices are not counters


def test_images_are_counted_by_channel_and_outcome_with_the_busiest_channels_first(usage):
    for channel, seen in (("C1", 3), ("C2", 7), ("C3", 1)):
        usage.count_images("2026-12", channel, {"seen": seen})
    usage.count_images("2026-12", "C2", {"labelled": 6, "failed": 1})
    usage.count_images("2026-12", "C1", {"held": 1, "cache_hits": 2})

    month = usage.month_usage("2026-12", busiest=2)

    assert month.images == {"seen": 11, "labelled": 6, "held": 1, "failed": 1, "limited": 0, "cache_hits": 2}
    assert month.busiest == (("C2", 7), ("C1", 3))
    one = usage.month_usage("2026-12", channel_id="C1")
    assert one.images == {"seen": 3, "labelled": 0, "held": 1, "failed": 0, "limited": 0, "cache_hits": 2}
    assert one.busiest == (("C1", 3),)


def test_usage_survives_a_restart(tmp_path):
    first = open_sqlite_stores(tmp_path / "db")
    first.usage.count_call("2026-12", "DetectLabels")
    first.usage.count_images("2026-12", "C1", {"seen": 1})
    first.usage.claim_notice("2026-12", "admins:80")
    first.close()

    again = open_sqlite_stores(tmp_path / "db")
    assert again.usage.month_usage("2026-12").total_calls == 1
    assert again.usage.month_usage("2026-12").images["seen"] == 1
    assert again.usage.claim_notice("2026-12", "admins:80") is False
    again.close()
