"""The App Home tab: the pure view builder against Block Kit's limits, the store's summary, and app_home_opened
end to end (signed event → users.conversations → views.publish on the fake Slack)."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest

from bot.home import HomeChannel, build_home_view, short_reason
from bot.i18n import Sentence, words_for
from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides, ChannelSettings
from bot.store import HeldImage, LabellingError, LabellingSummary, Stores
from bot.store.protocols import MonthUsage
from bot.usage import usage_month
from bot.usage_report import month_name
from tests.conftest import Clock, both_runtimes, fixture_bytes
from tests.slack_requests import file_share_event, next_ts

pytestmark = both_runtimes  # each behaviour test that starts a bot also runs on AWS Lambda (tests/conftest.py)

DEFAULTS = ChannelSettings(threshold=75.0, max_labels=5)
CAT_JPG = fixture_bytes("cat.jpg")
EMPTY = LabellingSummary(0, 0, (), ())
BLOCK_TYPES = {"header", "section", "context", "divider"}


def assert_valid_home_view(view: dict) -> None:
    """Block Kit's limits for a Home tab (https://api.slack.com/reference/block-kit)."""
    assert view["type"] == "home"
    blocks = view["blocks"]
    assert 0 < len(blocks) <= 100
    for block in blocks:
        assert block["type"] in BLOCK_TYPES, block
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] == "mrkdwn"
                assert 0 < len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert 0 < len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        elif block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(0 < len(e["text"]) <= 2000 for e in block["elements"])
    assert len(json.dumps(view, ensure_ascii=False).encode()) < 250_000


def view_text(view: dict) -> str:
    parts = []
    for block in view["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        parts += [e["text"] for e in block.get("elements", [])]
    return "\n".join(parts)


# ---- the pure view builder ----------------------------------------------------------------------------------


def test_the_view_shows_channels_settings_counts_top_labels_and_problems():
    channels = [
        HomeChannel("C0001", "general", DEFAULTS),
        HomeChannel(
            "C0002",
            "design",
            ChannelSettings(threshold=90.0, max_labels=3, enabled=False, tags=True, include=("Dog", "Cat")),
        ),
    ]
    summary = LabellingSummary(
        images_labelled=42,
        images_failed=1,
        top_labels=(("Cat", 30), ("Whiteboard", 12)),
        recent_errors=(LabellingError(1_700_000_000.0, "C0001", "broken.jpg", "This image looks damaged."),),
    )

    view = build_home_view(channels, summary, DEFAULTS, now=1_700_000_100.0)

    assert_valid_home_view(view)
    text = view_text(view)
    assert "*Images labelled*\n42" in text
    assert "*Couldn't label*\n1" in text
    assert "Cat (30) · Whiteboard (12)" in text
    assert "Public channels I'm in (2)" in text
    assert "This tab covers public channels only" in text
    assert "<#C0001|general> · *on* · threshold 75% · max 5 · tags off" in text
    assert "<#C0002|design> · *off* · threshold 90% · max 3 · tags on · only Dog, Cat" in text
    assert "<!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC> · <#C0001> · *broken.jpg*" in text
    assert "This image looks damaged." in text


def test_the_view_in_japanese_says_every_line_and_the_stored_reasons_in_japanese_within_block_kit_limits():
    channels = [HomeChannel(f"C{i:05d}", f"チーム-{i:04d}-" + "名" * 60, DEFAULTS) for i in range(1000)]
    damaged = Sentence("This image looks damaged or incomplete, so I couldn't read it.")
    too_big = Sentence("This file is over %(megabytes)s MB, more than I download.", megabytes=50)
    errors = (
        LabellingError(1_700_000_000.0, "C00001", "a.jpg", damaged),
        LabellingError(1_700_000_000.0, "C00002", "b.jpg", too_big),
        LabellingError(1_700_000_000.0, "C00003", "c.jpg", "an old reason, stored as English text"),
    )
    summary = LabellingSummary(1200, 3, (("Cat", 1000), ("Whiteboard", 12)), errors)
    held = [HeldImage("C00001", "1700000000.000100", "F1", "UPOSTER", "k", (("Violence", 91.0),), 1_700_000_000.0)]

    view = build_home_view(
        channels, summary, DEFAULTS, held=held, reviewer=True, tr=words_for("ja"), now=1_700_000_100.0
    )

    assert_valid_home_view(view)  # Slack counts characters, as len() does: a Japanese line fits as an English one
    text = view_text(view)
    assert "参加しているパブリックチャンネル（1,000）" in text and "…ほか" in text
    assert "*ラベルを付けた画像*\n1,200" in text and "*よく付いたラベル:* 猫 (1,000) · ホワイトボード (12)" in text
    assert "*a.jpg* — この画像は破損しているか不完全なため、読み込めませんでした。" in text
    assert "*b.jpg* — このファイルは 50 MB を超えているため、ダウンロードしません。" in text
    assert "*c.jpg* — an old reason, stored as English text" in text  # said as it was stored
    assert "管理者の確認待ち · 投稿者: <@UPOSTER> · 暴力 91%" in text
    english_words = re.compile(r"(?<![/\w])(?:the|and|of|in|labels?|images?|channels?)\b", re.IGNORECASE)
    assert english_words.findall(text.replace("an old reason, stored as English text", "")) == []


def test_many_channels_long_filters_and_many_errors_stay_within_block_kit_limits():
    long_names = tuple(f"Label {i:02d} " + "x" * 40 for i in range(100))
    channels = [
        HomeChannel(
            f"C{i:05d}", f"team-{i:04d}-" + "n" * 60, ChannelSettings(80.0, 20, True, True, long_names, long_names)
        )
        for i in range(1000)
    ]
    errors = tuple(
        LabellingError(1_700_000_000.0 - i, f"C{i:05d}", "F" * 300 + ".jpg", "Reason " + "y" * 2000) for i in range(50)
    )
    summary = LabellingSummary(10**6, 10**5, tuple((f"Label{i}" + "z" * 200, 10**6 - i) for i in range(10)), errors)

    view = build_home_view(channels, summary, DEFAULTS)

    assert_valid_home_view(view)
    text = view_text(view)
    assert "Public channels I'm in (1,000)" in text
    assert "more channels." in text
    assert "+95 more" in text  # each filter list shows five names
    assert "1,000,000" in text


def test_an_empty_workspace_gets_a_hint_and_no_problem_lines():
    view = build_home_view([], EMPTY, DEFAULTS)

    assert_valid_home_view(view)
    text = view_text(view)
    assert "`/invite @labelbot`" in text
    assert "*Images labelled*\n0" in text
    assert "*Top labels:* none yet" in text


def test_a_channel_listing_problem_is_shown_instead_of_the_invite_hint():
    view = build_home_view([], EMPTY, DEFAULTS, channels_problem="I couldn't list all my channels: `missing_scope`.")

    assert_valid_home_view(view)
    assert "missing_scope" in view_text(view)
    assert "/invite" not in view_text(view)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("I couldn't download it from https://files.slack.com/files-pri/T1-F1/cat.jpg?t=xoxe-123", "[link]"),
        ("token xoxb-1234-5678-abcdef was refused", "token [redacted] was refused"),
        ("key AKIAABCDEFGHIJKLMNOP leaked", "key [redacted] leaked"),
        ("<@U123> & <!channel>", "&lt;@U123&gt; &amp; &lt;!channel&gt;"),
        ("one\n  two", "one two"),
    ],
)
def test_error_reasons_carry_no_links_tokens_or_mentions(reason, expected):
    shown = short_reason(reason)
    assert expected in shown
    for secret in ("https://", "xoxb-", "xoxe-", "AKIA", "<@", "<!"):
        assert secret not in shown


def test_user_text_in_names_is_escaped():
    channels = [HomeChannel("C1", "x", ChannelSettings(75.0, 5, include=("<!here>",)))]
    summary = LabellingSummary(1, 1, (("<b&d>", 1),), (LabellingError(1.0, "C1", "<@U1>.jpg", "bad"),))

    text = view_text(build_home_view(channels, summary, DEFAULTS))

    assert "<!here>" not in text and "<b&d>" not in text and "<@U1>" not in text
    assert "&lt;!here&gt;" in text and "&lt;b&amp;d&gt;" in text


# ---- the store's summary ------------------------------------------------------------------------------------


def finish(store: Stores, channel: str, results: list[ImageResult]) -> None:
    store.queue.enqueue_message(channel, next_ts(), "1.0", [{"id": r.file_id} for r in results])
    for result in results:
        job = store.queue.claim_job()
        store.queue.finish_job(job.id, result)


def test_the_summary_counts_labelled_and_failed_images_top_labels_and_latest_errors(make_store):
    clock = Clock()
    store = make_store(clock=clock)
    clock.now -= 8 * 86400  # jobs finished eight days ago are outside the period
    finish(store, "C3", [ImageResult("F7", "old.jpg", labels=(Label("Dog", 99.0),), error=None)])
    finish(store, "C3", [ImageResult("F8", "old.jpg", error="old error")])
    clock.now += 8 * 86400
    cat = (Label("Cat", 99.0), Label("Pet", 95.0))
    finish(store, "C1", [ImageResult("F1", "a.jpg", labels=cat), ImageResult("F2", "b.jpg", labels=cat[:1])])
    finish(store, "C2", [ImageResult("F3", "c.jpg", error="damaged"), ImageResult("F4", "d.pdf", skipped=True)])
    finish(store, "C2", [ImageResult("F5", "e.jpg", error="too big"), ImageResult("F6", "f.jpg")])

    summary = store.summary.labelling_summary(time.time() - 7 * 86400, top_labels=1, recent_errors=5)

    assert (summary.images_labelled, summary.images_failed) == (3, 2)
    assert summary.top_labels == (("Cat", 2),)
    assert [(e.channel_id, e.file_name, e.reason) for e in summary.recent_errors] == [
        ("C2", "e.jpg", "too big"),
        ("C2", "c.jpg", "damaged"),
    ]
    assert store.summary.labelling_summary(time.time() - 7 * 86400).top_labels == (("Cat", 2), ("Pet", 1))


# ---- end to end ---------------------------------------------------------------------------------------------


def home_opened(user: str = "UALICE", tab: str = "home") -> dict:
    return {"type": "app_home_opened", "user": user, "channel": "D0001", "tab": tab, "event_ts": next_ts()}


def test_opening_the_home_tab_publishes_channels_settings_counts_and_problems(start_bot, fake_slack, aws_env):
    fake_slack.channels = [{"id": "C0001", "name": "general"}, {"id": "C0002", "name": "design"}] + [
        {"id": f"CX{i:04d}", "name": f"zz-extra-{i:04d}"} for i in range(400)
    ]
    bot = start_bot()
    bot.services.stores.settings.save_overrides(
        "C0002", ChannelOverrides(enabled=False, threshold=90.0, include=("Dog",))
    )
    cat = fake_slack.add_file("F_CAT", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
    broken = fake_slack.add_file("F_BAD", fixture_bytes("cat.jpg")[:4000], "broken.jpg", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0001", [cat]))
    fake_slack.wait_for_posts(1)
    bot.post_event(file_share_event("C0001", [broken]))
    fake_slack.wait_for_posts(2)

    answer = bot.post_event(home_opened())

    assert answer.status == 200
    [publish] = fake_slack.wait_for_calls("views.publish")
    assert publish["user_id"] == "UALICE"
    view = publish["view"]
    assert_valid_home_view(view)
    text = view_text(view)
    assert "Public channels I'm in (402)" in text
    assert "<#C0001|general> · *on* · threshold 75% · max 5 · tags off" in text
    assert "<#C0002|design> · *off* · threshold 90% · max 5 · tags off · only Dog" in text
    assert "*Images labelled*\n1" in text
    assert "*Couldn't label*\n1" in text
    assert "Cat (1) · Kitten (1)" in text
    assert "*broken.jpg* — This image looks damaged or incomplete, so I couldn't read it." in text
    assert "xoxb-" not in json.dumps(view) and "/files-pri/" not in json.dumps(view)
    listings = fake_slack.calls_to("users.conversations")
    assert len(listings) == 3  # 402 channels, 200 a page
    assert all(c["types"] == "public_channel" for c in listings)

    # Someone whose Slack is in Japanese sees it all in Japanese, the stored reason and the label names too.
    fake_slack.users["UHANAKO"] = {"locale": "ja-JP"}
    bot.post_event(home_opened("UHANAKO"))
    publish = fake_slack.wait_for_calls("views.publish", 2)[1]
    assert publish["user_id"] == "UHANAKO"
    assert_valid_home_view(publish["view"])
    japanese = view_text(publish["view"])
    assert "参加しているパブリックチャンネル（402）" in japanese
    assert "<#C0001|general> · *オン* · しきい値 75% · 最大 5 個 · タグ オフ" in japanese
    assert "*ラベルを付けた画像*\n1" in japanese and "猫 (1) · 子猫 (1)" in japanese
    assert "*broken.jpg* — この画像は破損しているか不完全なため、読み込めませんでした。" in japanese
    assert "Couldn't" not in japanese and "threshold" not in japanese


def test_every_user_sees_the_same_tab_with_nothing_of_private_channels_or_conversations(start_bot, fake_slack, aws_env):
    # users.conversations lists public channels only; a private one slipping into the answer is dropped too.
    fake_slack.channels = [
        {"id": "C0PUB", "name": "general"},
        {"id": "G0SLIP", "name": "hr-secret", "is_private": True},
    ]
    bot = start_bot(LABELBOT_WORKERS="1")
    bot.services.stores.settings.save_overrides("G0SLIP", ChannelOverrides(include=("Payslip",)))
    aws_env.labels = [{"Name": "Dog", "Confidence": 99.0, "Parents": []}]
    bot.post_event(file_share_event("C0PUB", [fake_slack.add_file("F1", CAT_JPG, "dog.jpg", "image/jpeg", "jpg")]))
    fake_slack.wait_for_posts(1)
    aws_env.labels = [{"Name": "Passport", "Confidence": 99.0, "Parents": []}]
    for channel, kind, name in (("G0SLIP", "group", "salaries.png"), ("D0DM", "im", "my-id.png")):
        bot.post_event(
            file_share_event(channel, [fake_slack.add_file(name, CAT_JPG, name, "image/png", "png")], channel_type=kind)
        )
    bot.post_event(
        file_share_event("D0DM", [fake_slack.add_file("F_BAD", CAT_JPG[:4000], "divorce.jpg", "image/jpeg", "jpg")])
    )
    fake_slack.wait_for_posts(4)

    for user in ("UALICE", "UBOB"):
        bot.post_event(home_opened(user))
    publishes = fake_slack.wait_for_calls("views.publish", 2)

    assert sorted(p["user_id"] for p in publishes) == ["UALICE", "UBOB"]
    alice, bob = (view_text(p["view"]) for p in publishes)
    assert re.sub(r"<!date\^\d+", "", alice) == re.sub(r"<!date\^\d+", "", bob)
    for secret in ("G0SLIP", "hr-secret", "Payslip", "Passport", "salaries", "my-id", "divorce", "D0DM"):
        assert secret not in json.dumps([p["view"] for p in publishes]), secret
    assert "Public channels I'm in (1)" in alice
    assert "*Images labelled*\n1" in alice and "*Couldn't label*\n0" in alice
    assert "Dog (1)" in alice


def test_the_summary_can_be_limited_to_some_channels(make_store):
    store = make_store()
    finish(store, "C1", [ImageResult("F1", "a.jpg", labels=(Label("Cat", 99.0),))])
    finish(
        store, "G2", [ImageResult("F2", "b.jpg", labels=(Label("Dog", 99.0),)), ImageResult("F3", "c.jpg", error="x")]
    )

    everything = store.summary.labelling_summary(0)
    public = store.summary.labelling_summary(0, channel_ids={"C1"})
    nothing = store.summary.labelling_summary(0, channel_ids=())

    assert (everything.images_labelled, everything.images_failed, len(everything.top_labels)) == (2, 1, 2)
    assert (public.images_labelled, public.images_failed, public.top_labels, public.recent_errors) == (
        1,
        0,
        (("Cat", 1),),
        (),
    )
    assert (nothing.images_labelled, nothing.images_failed, nothing.top_labels) == (0, 0, ())


def test_the_messages_tab_publishes_nothing(start_bot, fake_slack):
    bot = start_bot()

    assert bot.post_event(home_opened(tab="messages")).status == 200

    time.sleep(0.5)
    assert fake_slack.calls_to("views.publish") == []


def test_without_the_channel_scopes_the_tab_still_shows_and_says_why(start_bot, fake_slack):
    fake_slack.fail_next("users.conversations", error="missing_scope")
    bot = start_bot()

    bot.post_event(home_opened())

    [publish] = fake_slack.wait_for_calls("views.publish")
    assert_valid_home_view(publish["view"])
    assert "`missing_scope` (the app needs the `channels:read` scope)" in view_text(publish["view"])


# ---- the week's held images -------------------------------------------------------------------------------------

VIOLENCE = [{"Name": "Violence", "Confidence": 91.0, "ParentName": "", "TaxonomyLevel": 1}]


def held(ts: str, channel: str = "C0001", **fields) -> HeldImage:
    defaults = {"user_id": "UPOSTER", "categories": (("Violence", 91.0),), "held_at": 1_700_000_000.0}
    return HeldImage(channel, ts, "F" + ts.replace(".", ""), content_key="K" + ts, **{**defaults, **fields})


def test_held_images_show_when_decided_or_waiting_and_only_reviewers_see_what_was_found():
    images = [
        held("1.1"),
        held("2.2", decision="released", decided_by="UADMIN", decided_at=1_700_000_100.0),
        held("3.3", decision="kept", decided_by="UADMIN", decided_at=1_700_000_200.0),
    ]
    base = "https://acme.slack.com/"

    shown = view_text(build_home_view([], EMPTY, DEFAULTS, held=images, workspace_url=base))
    admin = view_text(build_home_view([], EMPTY, DEFAULTS, held=images, reviewer=True, workspace_url=base))

    assert "Held for review (last 7 days)" in shown
    assert "^https://acme.slack.com/archives/C0001/p11|" in shown  # the date links to the message
    assert "<#C0001> · waiting for an admin" in shown
    assert "<#C0001> · *Looks fine* (<@UADMIN>)" in shown and "<#C0001> · *Keep flagged* (<@UADMIN>)" in shown
    assert "Violence" not in shown and "UPOSTER" not in shown  # the channel never learns the category
    assert "only they see what was found" in shown
    assert "waiting for an admin · posted by <@UPOSTER> · Violence 91%" in admin
    assert "only they see" not in admin


def test_the_held_section_shows_only_where_moderation_is_on_or_something_was_held():
    assert "Held for review" not in view_text(build_home_view([], EMPTY, DEFAULTS))
    on = view_text(build_home_view([], EMPTY, DEFAULTS, moderation_shown=True))
    assert "Held for review (last 7 days)\nNone: no image was held for review." in on
    assert "Held for review" in view_text(build_home_view([], EMPTY, DEFAULTS, held=[held("1.1")]))


def test_many_held_images_stay_within_block_kit_limits():
    images = [held(f"{i}.5", channel=f"C{i:05d}") for i in range(50)]
    view = build_home_view([], EMPTY, DEFAULTS, held=images, reviewer=True)
    assert_valid_home_view(view)
    assert view_text(view).count("posted by <@UPOSTER>") == 50


def test_the_home_tab_lists_the_weeks_held_images_with_details_for_admins_only(start_bot, fake_slack, aws_env):
    fake_slack.channels = [{"id": "C0001", "name": "general"}]  # the bot's public channels
    bot = start_bot(LABELBOT_MODERATION="on", LABELBOT_ADMINS="UADMIN", LABELBOT_WORKERS="1")
    aws_env.moderation_labels = VIOLENCE
    photo = fake_slack.add_file("FHELD", CAT_JPG, "held.jpg", "image/jpeg", "jpg")
    secret = fake_slack.add_file("FSECRET", CAT_JPG, "secret.jpg", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0001", [photo], user="UPOSTER"))
    bot.post_event(file_share_event("G0PRIV", [secret], user="UPOSTER", channel_type="group"))
    fake_slack.wait_for_posts(4)  # two held lines, two DMs to UADMIN

    for user in ("UADMIN", "UBOB"):
        bot.post_event(home_opened(user))
    publishes = {p["user_id"]: p["view"] for p in fake_slack.wait_for_calls("views.publish", 2)}

    for view in publishes.values():
        assert_valid_home_view(view)
        assert "G0PRIV" not in json.dumps(view)  # a private channel's held image is nobody's business here
    admin, bob = view_text(publishes["UADMIN"]), view_text(publishes["UBOB"])
    assert "<#C0001> · waiting for an admin · posted by <@UPOSTER> · Violence 91%" in admin
    assert "<#C0001> · waiting for an admin" in bob
    assert "Violence" not in bob and "UPOSTER" not in bob


# ---- this month's usage -----------------------------------------------------------------------------------------

DECEMBER = MonthUsage(
    "2026-12",
    {"DetectLabels": 1200, "DetectModerationLabels": 0, "DetectText": 300},
    {"seen": 1500, "labelled": 1400, "held": 3, "failed": 7, "limited": 4, "cache_hits": 90},
    busiest=(("G0SECRET", 900),),
)


def test_this_months_workspace_usage_shows_after_the_week_with_its_cost_and_cap():
    view = build_home_view([], EMPTY, DEFAULTS, month=DECEMBER, month_cost_usd=1.5, call_limit=10_000)

    assert_valid_home_view(view)
    text = view_text(view)
    assert (
        text.index("Last 7 days") < text.index("December 2026 so far, whole workspace") < text.index("Public channels")
    )
    for figure in (
        "*Images seen*\n1,500",
        "*Labelled*\n1,400",
        "*Held for review*\n3",
        "*Couldn't label*\n7",
        "*Not sent: monthly cap*\n4",
        "*Answered from the cache*\n90",
        "*Rekognition calls*\n1,500",
        "*Estimated cost*\n$1.50",
        "*Monthly cap*\n1,500 of 10,000 Rekognition calls (15%)",
    ):
        assert figure in text, figure
    assert "G0SECRET" not in json.dumps(view)  # the busiest channels may be private: never on the tab


def test_without_a_cap_the_month_says_so_and_a_nearly_reached_cap_is_not_rounded_up():
    uncapped = view_text(build_home_view([], EMPTY, DEFAULTS, month=DECEMBER, month_cost_usd=1.5))
    nearly = view_text(build_home_view([], EMPTY, DEFAULTS, month=DECEMBER, call_limit=1_501))

    assert "*Monthly cap*\nNo monthly cap on Rekognition calls." in uncapped
    assert "1,500 of 1,501 Rekognition calls (99.9%)" in nearly


def test_the_month_is_left_out_without_usage_and_said_unavailable_when_reading_it_failed():
    assert "so far" not in view_text(build_home_view([], EMPTY, DEFAULTS))
    unavailable = build_home_view([], EMPTY, DEFAULTS, month_unavailable=True)

    assert_valid_home_view(unavailable)
    assert "This month, whole workspace\nI couldn't read this month's usage just now" in view_text(unavailable)


def seed_usage(bot) -> str:
    """Four Rekognition calls and two images seen this month, one of them in a private channel."""
    month = usage_month(time.time())
    usage = bot.services.stores.usage
    for api in ("DetectLabels", "DetectLabels", "DetectLabels", "DetectText"):
        usage.count_call(month, api)
    for channel in ("C0001", "G0PRIV"):
        usage.count_images(month, channel, {"seen": 1, "labelled": 1})
    return month


def test_the_home_tab_shows_this_months_workspace_usage_cost_and_cap(start_bot, fake_slack):
    fake_slack.channels = [{"id": "C0001", "name": "general"}]
    bot = start_bot(LABELBOT_MONTHLY_CALL_LIMIT="40", LABELBOT_PRICE_PER_CALL_USD="0.01")
    month = seed_usage(bot)

    bot.post_event(home_opened())

    [publish] = fake_slack.wait_for_calls("views.publish")
    assert_valid_home_view(publish["view"])
    text = view_text(publish["view"])
    assert f"{month_name(month)} so far, whole workspace" in text
    assert "*Images seen*\n2" in text and "*Labelled*\n2" in text and "*Couldn't label*\n0" in text
    assert "*Rekognition calls*\n4" in text
    assert "*Estimated cost*\n$0.04" in text  # 4 calls at LABELBOT_PRICE_PER_CALL_USD's $0.01
    assert "*Monthly cap*\n4 of 40 Rekognition calls (10%)" in text
    assert "G0PRIV" not in json.dumps(publish["view"])  # counted in the totals, never named


def test_without_a_monthly_call_limit_the_home_tab_says_there_is_no_cap(start_bot, fake_slack):
    bot = start_bot()
    seed_usage(bot)

    bot.post_event(home_opened())

    [publish] = fake_slack.wait_for_calls("views.publish")
    text = view_text(publish["view"])
    assert "*Rekognition calls*\n4" in text and "*Estimated cost*\n$0.00" in text  # $0.004 at the list price
    assert "*Monthly cap*\nNo monthly cap on Rekognition calls." in text


def test_a_usage_read_failure_still_publishes_the_home_tab(start_bot, fake_slack, monkeypatch, caplog):
    fake_slack.channels = [{"id": "C0001", "name": "general"}]
    bot = start_bot()

    def store_down(*args, **kwargs):
        raise OSError("the usage counters are unreachable")

    monkeypatch.setattr(bot.services.stores.usage, "month_usage", store_down)
    with caplog.at_level(logging.ERROR, logger="bot.listeners.home"):
        bot.post_event(home_opened())
        [publish] = fake_slack.wait_for_calls("views.publish")

    assert_valid_home_view(publish["view"])
    text = view_text(publish["view"])
    assert "I couldn't read this month's usage just now" in text
    assert "<#C0001|general>" in text and "*Images labelled*\n0" in text  # the rest of the tab as ever
    [line] = [r for r in caplog.records if "reading this month's usage for the Home tab failed" in r.getMessage()]
    assert line.exc_info and "unreachable" in str(line.exc_info[1])
