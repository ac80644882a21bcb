"""A small burst (bench/burst.py) so the benchmark keeps working: correctness only, no timings."""

from __future__ import annotations

from bench.burst import make_photos, make_thumbs, run_burst
from tests.bot_processes import free_port


def small_burst(photos: list[bytes], images: int, **options):
    """bench/burst.py against the real bot: 2 channels, 2 senders, quota 50, Rekognition answering in 10-50 ms, the
    bot's port from this test process's own range (see tests.bot_processes.free_port)."""
    return run_burst(
        "bot",
        photos,
        bot_env={"PORT": str(free_port())},
        images=images,
        channels=2,
        senders=2,
        quota=50,
        latency=(0.01, 0.05),
        **options,
    )


def test_small_burst_answers_every_image_once_with_one_call_per_distinct_image_and_tags_each():
    """Slack's rate limits on (the burst's default), emoji tags on in both channels."""
    photos = make_photos(3, megapixels=0.3)
    result = small_burst(photos, 6, idle=20, tags=True)
    assert result.answered == 6
    assert result.reactions_expected == 6 * 3 and result.reactions_added == 18
    assert result.last_reaction_after_last_reply_s >= 0
    assert result.early_retries == 0
    assert result.slack_429s == {}  # 18 reactions are within Tier 3's 50 a minute; replies a second apart
    assert result.out_of_order == 0
    assert result.duplicate_replies == 0
    assert result.busy_replies == 0 and result.error_replies == 0
    assert result.slack_retries == 0
    assert len(photos) <= result.rekognition_calls <= 6  # distinct images with the label cache, never more than images
    assert result.throttled_calls == 0
    assert result.original_downloads == 6 and result.thumb_downloads == 0  # no thumbnails offered
    assert result.peak_rss_mb > 0


def test_with_slack_thumbnails_the_bot_downloads_thumb_1024_and_never_the_original():
    photos = make_photos(2, megapixels=1.2)  # 1264 x 948: Slack makes thumb_1024
    thumbs = [make_thumbs(photo) for photo in photos]
    assert sorted(thumbs[0]) == [360, 480, 720, 800, 960, 1024]
    assert thumbs[0][1024][1:] == (1024, 768)
    result = small_burst(photos, 4, thumbs=thumbs)
    assert result.answered == 4
    assert result.busy_replies == 0 and result.error_replies == 0 and result.duplicate_replies == 0
    assert result.original_downloads == 0 and result.thumb_downloads == 4
    assert result.rekognition_calls == 2  # the same thumbnail, the same answer


def test_with_moderation_each_distinct_image_is_checked_once_and_a_flagged_one_is_held_not_labelled():
    photos = make_photos(3, megapixels=0.3)
    result = small_burst(photos, 6, moderation=True, flagged=2)
    assert result.answered == 6 and result.duplicate_replies == 0
    assert result.busy_replies == 0 and result.error_replies == 0
    # the 1st and 3rd distinct photos are flagged: each posted twice, so 4 held lines and a notice each
    assert result.held == 4 and result.notices == 4
    assert result.calls_by_api == {"DetectModerationLabels": 3, "DetectLabels": 1}
    assert result.throttled_by_api == {}


def test_with_text_on_every_distinct_image_is_read_once_and_every_reply_has_its_text_line():
    photos = make_photos(2, megapixels=0.3)
    result = small_burst(photos, 4, text=True)
    assert result.answered == 4 and result.duplicate_replies == 0 and result.error_replies == 0
    assert result.with_text == 4  # the re-posts too, from the cache
    assert result.calls_by_api == {"DetectLabels": 2, "DetectText": 2}


def test_the_metrics_overhead_benchmark_measures_both_modes_and_the_capped_count(capsys, monkeypatch):
    import sys

    from bench import metrics_overhead

    monkeypatch.setattr(sys, "argv", ["metrics_overhead", "--jobs", "50", "--calls", "20"])
    metrics_overhead.main()

    out = capsys.readouterr().out
    assert "| single |" in out and "| multiprocess |" in out
    assert "Counting one Rekognition call against the monthly limit (SQLite):" in out
