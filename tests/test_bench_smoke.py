"""A small burst (bench/burst.py) so the benchmark keeps working: correctness only, no timings."""

from __future__ import annotations

from bench.burst import make_photos, run_burst


def test_small_burst_answers_every_image_once_with_one_call_per_distinct_image():
    photos = make_photos(3, megapixels=0.3)
    result = run_burst(
        "bot", photos, images=6, channels=2, senders=2, quota=50, latency=(0.01, 0.05), post_rate=None, idle=20
    )
    assert result.answered == 6
    assert result.duplicate_replies == 0
    assert result.busy_replies == 0 and result.error_replies == 0
    assert result.slack_retries == 0
    assert len(photos) <= result.rekognition_calls <= 6  # distinct images with the label cache, never more than images
    assert result.throttled_calls == 0
    assert result.peak_rss_mb > 0
