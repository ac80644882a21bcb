"""Issue 5: Slack's thumbnail instead of the original; Rekognition's answer cached by content; replies in message
order per channel, a second apart."""

from __future__ import annotations

import io
import itertools
import logging
import threading
import time

from PIL import Image

from bot.analysis import label_cache_key
from bot.download_budget import ByteBudget
from bot.rate_limit import ChannelPacer
from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides, ChannelSettings
from bot.slack_file_objects import thumbnail_url
from tests import pictures
from tests.conftest import fixture_bytes, slack_rate_limits
from tests.slack_requests import file_share_event

pytestmark = slack_rate_limits()  # the replies' order and pace hold within Slack's rate limits (tests/conftest.py)

CAT = fixture_bytes("cat.jpg")


def jpeg(width: int, height: int, shade: int = 120) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 90, 60)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def photo(fake_slack, file_id: str, data: bytes = CAT, **kw) -> dict:
    return fake_slack.add_file(file_id, data, f"{file_id}.jpg", "image/jpeg", "jpg", **kw)


def post_times(fake_slack, channel: str) -> list[tuple[str, float]]:
    """(message ts answered, when the post reached Slack) of the channel's replies, in arrival order."""
    return [
        (c.args["metadata"]["event_payload"]["message_ts"], c.received_at)
        for c in fake_slack.calls
        if c.method == "chat.postMessage" and c.args.get("_ok") and c.args["channel"] == channel
    ]


# ---- thumbnails ---------------------------------------------------------------------------------------------------


def test_the_smallest_jpeg_or_png_thumbnail_with_a_long_side_of_1024_is_chosen():
    base = "https://files.slack.com/files-tmb/T1-F1-abc/img"
    file = {
        "thumb_360": f"{base}_360.jpg",
        "thumb_360_w": 360,
        "thumb_360_h": 240,
        "thumb_960": f"{base}_960.jpg",
        "thumb_960_w": 960,
        "thumb_960_h": 640,
        "thumb_1024": f"{base}_1024.jpg",
        "thumb_1024_w": 1024,
        "thumb_1024_h": 683,
    }
    assert thumbnail_url(file) == f"{base}_1024.jpg"
    assert thumbnail_url({**file, "thumb_960_h": 1024}) == f"{base}_960.jpg"  # a tall one: 960 is enough
    assert thumbnail_url({k: v for k, v in file.items() if "1024" not in k}) is None  # too small: the original
    assert thumbnail_url({**file, "thumb_1024": f"{base}_1024.gif"}) is None  # JPEG and PNG only
    assert thumbnail_url({**file, "thumb_1024_w": None}) is None
    assert thumbnail_url({}) is None


def test_a_large_photo_is_labelled_from_its_thumbnail_without_downloading_the_original(start_bot, fake_slack, aws_env):
    thumb = jpeg(1024, 683)
    thumbs = {360: (jpeg(360, 240), 360, 240), 1024: (thumb, 1024, 683)}
    original = photo(fake_slack, "F_BIG", jpeg(4000, 2667), thumbs=thumbs)
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [original]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    assert fake_slack.files["F_BIG"].downloads == []
    [download] = fake_slack.thumb_file("F_BIG", 1024).downloads
    assert download["authorization"] == "Bearer xoxb-test-token"  # a Slack host: the token goes along
    assert fake_slack.thumb_file("F_BIG", 360).downloads == []
    [call] = aws_env.calls
    assert call.image == thumb


def test_a_thumbnail_that_fails_or_is_not_an_image_falls_back_to_the_original(start_bot, fake_slack, aws_env):
    missing = photo(fake_slack, "F1", CAT + b"1", thumbs={1024: (jpeg(1024, 683), 1024, 683)})
    fake_slack.thumb_file("F1", 1024).status = 404
    garbage = photo(fake_slack, "F2", CAT + b"2", thumbs={1024: (b"not an image at all", 1024, 683)})
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [missing]))
    bot.post_event(file_share_event("C0002", [garbage]))

    posts = fake_slack.wait_for_posts(2)
    assert all(p["text"].startswith("Cat 99.2%") for p in posts)
    assert len(fake_slack.files["F1"].downloads) == len(fake_slack.files["F2"].downloads) == 1
    assert sorted(c.image for c in aws_env.calls) == sorted([CAT + b"1", CAT + b"2"])


def test_the_thumbnail_fields_are_kept_in_the_job(start_bot, fake_slack):
    bot = start_bot(start_workers=False)
    bot.post_event(file_share_event("C0001", [photo(fake_slack, "F1", thumbs={1024: (jpeg(1024, 683), 1024, 683)})]))

    job = bot.services.stores.queue.claim_job()

    assert job is not None
    assert (job.file["thumb_1024_w"], job.file["thumb_1024_h"]) == (1024, 683)
    assert job.file["thumb_1024"].endswith("/F1_1024.jpg")


# ---- the label cache ----------------------------------------------------------------------------------------------


def test_the_same_photo_in_two_channels_costs_one_call_and_a_new_threshold_another(start_bot, fake_slack, aws_env):
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [photo(fake_slack, "F1")]))
    fake_slack.wait_for_posts(1)
    bot.post_event(file_share_event("C0002", [photo(fake_slack, "F2")]))  # cross-posted: another file, same bytes
    posts = fake_slack.wait_for_posts(2)

    assert [p["channel"] for p in posts] == ["C0001", "C0002"]
    assert posts[0]["text"] == posts[1]["text"]
    assert len(aws_env.calls) == 1

    bot.services.stores.settings.save_overrides("C0003", ChannelOverrides(threshold=90.0))
    bot.post_event(file_share_event("C0003", [photo(fake_slack, "F3")]))
    third = fake_slack.wait_for_posts(3)[2]

    assert len(aws_env.calls) == 2
    assert aws_env.calls[1].min_confidence == 90.0
    assert "Whiskers" not in third["text"]


def test_a_camera_photo_goes_to_rekognition_at_labelling_size_and_its_repost_is_not_decoded_again(
    start_bot, fake_slack, aws_env, caplog
):
    """No thumbnail in the file object: the 4000x3000 original is downloaded, decoded at 1/2 and sent as a JPEG of a
    few hundred KB; the same bytes posted again are answered from the cache before any decoding."""
    caplog.set_level(logging.INFO, logger="bot.pipeline")
    grain = pictures.grain((4000, 3000), 40)
    camera = io.BytesIO()
    Image.blend(Image.open(io.BytesIO(CAT)).convert("RGB").resize((4000, 3000)), grain, 0.3).save(
        camera, "JPEG", quality=92
    )
    original = camera.getvalue()
    assert len(original) > 2 * 1024 * 1024
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [photo(fake_slack, "F1", original)]))
    fake_slack.wait_for_posts(1)
    bot.post_event(file_share_event("C0002", [photo(fake_slack, "F2", original)]))
    fake_slack.wait_for_posts(2)

    [call] = aws_env.calls
    assert aws_env.received_image().size == (2000, 1500) and len(call.image) < 1024 * 1024
    first, repost = wait_for_job_fields(caplog, 2)
    assert (first["downloaded_bytes"], first["prepared_bytes"]) == (len(original), len(call.image))
    assert first["prepare_ms"] is not None
    assert repost["downloaded_bytes"] == len(original)
    assert repost["prepare_ms"] is repost["prepared_bytes"] is None  # the cache answered from the download's hash


def test_workers_hold_no_more_downloaded_bytes_at_once_than_the_budget(start_bot, fake_slack, aws_env):
    """Six workers, six distinct originals, a budget that fits two: the downloads go two at a time, and all six are
    answered."""
    bot = start_bot(LABELBOT_WORKERS="6")
    bot.services.pipeline.download_budget = ByteBudget(2 * len(CAT) + 16)
    events = [
        file_share_event(f"C000{n}", [photo(fake_slack, f"F{n}", CAT + bytes([n]), delay_seconds=0.3)])
        for n in range(1, 7)
    ]

    for event in events:
        bot.post_event(event)
    posts = fake_slack.wait_for_posts(6)

    assert sorted(p["channel"] for p in posts) == [f"C000{n}" for n in range(1, 7)]
    assert all(p["text"].startswith("Cat 99.2%") for p in posts)
    assert fake_slack.most_files_served_at_once == 2


def test_a_byte_budget_waits_until_the_bytes_fit_and_counts_an_oversized_request_as_all_of_it():
    budget = ByteBudget(100)
    first = budget.acquire(60)
    taken: list[int] = []
    waiting = threading.Thread(target=lambda: taken.append(budget.acquire(50)))
    waiting.start()
    time.sleep(0.1)
    assert taken == []  # 60 + 50 > 100

    budget.release(first)
    waiting.join(2)

    assert taken == [50]
    budget.release(50)
    assert budget.acquire(10_000) == 100  # larger than the whole budget: takes all of it, never waits forever


def test_a_byte_budget_serves_requests_in_turn_so_a_large_one_is_not_overtaken():
    budget = ByteBudget(100)
    held = budget.acquire(30)
    order: list[str] = []

    def take(name: str, size: int) -> None:
        order.append(f"{name} waits")
        budget.release(budget.acquire(size))
        order.append(f"{name} took {size}")

    large = threading.Thread(target=take, args=("large", 90))
    large.start()
    time.sleep(0.1)
    small = threading.Thread(target=take, args=("small", 10))  # would fit now (30 + 10), but comes later
    small.start()
    time.sleep(0.1)
    assert order == ["large waits", "small waits"]

    budget.release(held)
    large.join(2)
    small.join(2)

    assert order[2:] == ["large took 90", "small took 10"]
    assert budget.take_more(150) == 150  # counted at once, over the limit: the next request waits for it
    waiting = threading.Thread(target=take, args=("next", 1))
    waiting.start()
    time.sleep(0.1)
    assert order[-1] == "next waits"
    budget.release(150)
    waiting.join(2)
    assert order[-1] == "next took 1"


def wait_for_job_fields(caplog, count: int, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        fields = [r.fields for r in caplog.records if r.name == "bot.pipeline" and hasattr(r, "fields")]
        if len(fields) >= count or time.monotonic() > deadline:
            return fields
        time.sleep(0.02)


def test_the_same_photo_labelled_at_the_same_time_is_one_call(start_bot, fake_slack, aws_env):
    aws_env.gate = threading.Event()
    bot = start_bot(LABELBOT_WORKERS="3")

    for n in (1, 2, 3):
        bot.post_event(file_share_event(f"C000{n}", [photo(fake_slack, f"F{n}")]))
    time.sleep(0.5)  # all three are in flight: one at Rekognition, two waiting for its answer
    aws_env.gate.set()

    fake_slack.wait_for_posts(3)
    assert len(aws_env.calls) == 1


def test_cached_labels_expire_and_the_key_covers_every_parameter(make_store):
    store = make_store()
    settings = ChannelSettings(threshold=75.0, max_labels=5)
    key = label_cache_key(CAT, settings)
    labels = (Label("Cat", 99.2, ("Animal",), ()),)

    store.label_cache.cache_labels(key, labels)

    assert store.label_cache.cached_labels(key, newer_than=time.time() - 60) == labels
    assert store.label_cache.cached_labels(key, newer_than=time.time() + 1) is None  # too old
    variants = [
        ChannelSettings(threshold=80.0, max_labels=5),
        ChannelSettings(threshold=75.0, max_labels=3),
        ChannelSettings(threshold=75.0, max_labels=5, include=("Cat",)),
        ChannelSettings(threshold=75.0, max_labels=5, exclude=("Cat",)),
    ]
    assert len({key, *(label_cache_key(CAT, v) for v in variants), label_cache_key(CAT + b"x", settings)}) == 6
    assert label_cache_key(CAT, ChannelSettings(threshold=75.0, max_labels=5, tags=True)) == key  # not a parameter
    assert store.label_cache.purge_label_cache(time.time() - 60) == 0
    assert store.label_cache.purge_label_cache(time.time() + 1) == 1
    assert store.label_cache.cached_labels(key, newer_than=0) is None


# ---- per-channel order and pace -----------------------------------------------------------------------------------


def test_replies_in_a_channel_follow_message_order_a_second_apart(start_bot, fake_slack, aws_env):
    slow, fast, other = CAT + b"slow", CAT + b"fast", CAT + b"other"
    aws_env.image_delays[slow] = 1.5  # the first image is slow at Rekognition
    bot = start_bot(LABELBOT_WORKERS="3")
    first = file_share_event("C0001", [photo(fake_slack, "F1", slow)])
    second = file_share_event("C0001", [photo(fake_slack, "F2", fast)])
    elsewhere = file_share_event("C0002", [photo(fake_slack, "F3", other)])

    for event in (first, second, elsewhere):
        bot.post_event(event)

    fake_slack.wait_for_posts(3)
    in_c1 = post_times(fake_slack, "C0001")
    [(_, c2_at)] = post_times(fake_slack, "C0002")
    assert [ts for ts, _ in in_c1] == [first["ts"], second["ts"]]  # though the second was labelled first
    assert in_c1[1][1] - in_c1[0][1] >= 0.99  # Slack's one message a second per channel
    assert c2_at < in_c1[0][1]  # another channel doesn't wait for the slow image
    assert fake_slack.posts()[0]["channel"] == "C0002"


def test_several_ready_replies_in_one_channel_are_spaced_and_other_channels_are_not_held(
    start_bot, fake_slack, aws_env
):
    aws_env.gate = threading.Event()
    bot = start_bot(LABELBOT_WORKERS="4")
    events = [file_share_event("C0001", [photo(fake_slack, f"F{n}", CAT + bytes([n]))]) for n in range(3)]
    events.append(file_share_event("C0002", [photo(fake_slack, "F9", CAT + b"9")]))
    for event in events:
        bot.post_event(event)
    time.sleep(0.3)
    aws_env.gate.set()

    fake_slack.wait_for_posts(4, timeout=20)
    in_c1 = post_times(fake_slack, "C0001")
    assert [ts for ts, _ in in_c1] == [e["ts"] for e in events[:3]]
    gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(in_c1)]
    assert all(gap >= 0.99 for gap in gaps), gaps
    [(_, c2_at)] = post_times(fake_slack, "C0002")
    assert c2_at - in_c1[0][1] < 0.9  # posted at once, not behind C0001's queue
    assert len(fake_slack.posts()) == 4  # exactly once each
    time.sleep(0.3)
    assert len(fake_slack.posts()) == 4


def test_a_stuck_earlier_message_blocks_the_next_reply_only_for_a_while(start_bot, fake_slack, aws_env):
    stuck = CAT + b"stuck"
    aws_env.image_delays[stuck] = 6.0
    bot = start_bot(LABELBOT_WORKERS="2")
    bot.services.pipeline.reply_order_wait_seconds = 1.0  # 60 s in production
    first = file_share_event("C0001", [photo(fake_slack, "F1", stuck)])
    second = file_share_event("C0001", [photo(fake_slack, "F2", CAT + b"ok")])
    bot.post_event(first)
    bot.post_event(second)

    time.sleep(0.6)
    assert fake_slack.posts() == []  # the second is done but waits for the first
    time.sleep(0.8)
    bot.services.pool.sweep_soon()  # the sweep posts what no longer has to wait

    [post] = fake_slack.wait_for_posts(1)
    assert post["thread_ts"] == second["ts"]
    posts = fake_slack.wait_for_posts(2, timeout=15)
    assert posts[1]["thread_ts"] == first["ts"]


def test_the_claim_waits_for_earlier_unsettled_messages_of_the_channel_only(make_store):
    store = make_store()
    for ts in ("100.000001", "100.000002"):
        store.queue.enqueue_message("C1", ts, ts, [{"id": f"F{ts}", "name": "a.jpg"}])
    store.queue.enqueue_message("C2", "100.000000", "100.000000", [{"id": "FX", "name": "x.jpg"}])
    jobs = {}
    while (job := store.queue.claim_job()) is not None:
        jobs[job.message_ts, job.channel_id] = job
    store.queue.finish_job(jobs["100.000002", "C1"].id, ImageResult("F2", "a.jpg"))
    recent = time.time() - 60

    assert store.replies.claim_reply("C1", "100.000002", after_earlier_since=recent) is None  # 100.000001 goes first
    assert store.replies.claim_reply("C1", "100.000002", after_earlier_since=time.time() + 1) is not None  # stuck: go
    store.replies.release_reply("C1", "100.000002")
    store.deletions.forget_message("C1", "100.000001")  # a deleted message blocks no one
    assert store.replies.claim_reply("C1", "100.000002", after_earlier_since=recent) is not None
    assert store.replies.next_waiting_reply("C1", "100.000000") is None  # deleted, and the other one is being posted
    store.replies.release_reply("C1", "100.000002")
    assert store.replies.next_waiting_reply("C1", "100.000000") == "100.000002"


def test_the_hourly_upkeep_expires_cached_labels_after_30_days(make_store):
    from bot.upkeep import Upkeep

    store = make_store()
    store.label_cache.cache_labels("key", (Label("Cat", 99.2, (), ()),))
    Upkeep(store, slack=None, retention_days=90, clock=lambda: time.time() + 29 * 86400)()
    assert store.label_cache.cached_labels("key", newer_than=0) is not None
    Upkeep(store, slack=None, retention_days=90, clock=lambda: time.time() + 31 * 86400).purge(time.time() + 31 * 86400)
    assert store.label_cache.cached_labels("key", newer_than=0) is None


def test_a_channels_next_post_waits_a_full_interval_from_the_previous_posts_answer():
    """Slack counts a post when it arrives: a slow answer must not let the next post come sooner than the interval."""
    pacer = ChannelPacer(interval=0.3)
    pacer.wait("C1")
    time.sleep(0.2)  # the post took 0.2 s to be answered
    pacer.posted("C1")
    answered = time.monotonic()

    started = time.monotonic()
    pacer.wait("C2")  # another channel is not held
    other = time.monotonic() - started
    pacer.wait("C1")

    assert other < 0.05
    assert time.monotonic() - answered >= 0.29
