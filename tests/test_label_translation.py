"""Amazon Translate for the label names a language's table lacks (bot.label_translation): the loopback fake's
contract, the store concern on both backends, the translator against the fake (once per name ever, off, failures,
throttling and pacing, usage and metrics), and one image in a Japanese channel end to end on both runtimes."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

import pytest

from bot import where_picture
from bot.config import ConfigError, load_config
from bot.i18n import words_for
from bot.label_translation import LabelTranslator, build_translate_client
from bot.lambda_metrics import CloudWatchMetrics
from bot.metrics import Metrics, PrometheusMetrics
from bot.pricing import PRICES_USD, month_cost
from bot.rate_limit import RateLimiter
from bot.render import SHOW_WHERE_ACTION, ImageResult, Label, render_reply
from bot.settings import ChannelSettings
from bot.store.protocols import MonthUsage
from bot.usage import usage_month
from bot.usage_report import describe_usage
from tests import slack_requests
from tests.conftest import CountingLimiter, both_runtimes, fixture_bytes
from tests.fakes.http_server import json_answer
from tests.fakes.translate import TARGET_PREFIX
from tests.slack_requests import block_actions, file_share_event

where_picture_caption = where_picture.caption_text

JA = ChannelSettings(threshold=75.0, max_labels=5, language="ja")
EN = ChannelSettings(threshold=75.0, max_labels=5, language="en")
WIDGET = Label("Widget", 97.0)  # in no label table: the fake knows it as ウィジェット
CAT = Label("Cat", 99.2)  # in the Japanese table: 猫


class Recorded(Metrics):
    def __init__(self) -> None:
        self.counts: dict[tuple, float] = {}

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, *sorted(labels.items()))
        self.counts[key] = self.counts.get(key, 0.0) + amount


def result(*labels: Label, file_id: str = "F1") -> ImageResult:
    return ImageResult(file_id, "photo.jpg", labels=labels)


@pytest.fixture
def store(tmp_path):
    from bot.store.sqlite import open_sqlite_stores

    stores = open_sqlite_stores(tmp_path / "labelbot.sqlite3")
    yield stores
    stores.close()


@pytest.fixture
def translator(aws_env, store):
    """A translator over the SQLite store, calling the loopback Translate (aws_env points botocore at it); paced
    faster than the bot's 5 a second (a test's burst of calls would wait for the pace)."""
    return LabelTranslator(store.translations, usage=store.usage, metrics=Recorded(), tps=100)


def reply_text(translator: LabelTranslator, *labels: Label, settings: ChannelSettings = JA) -> str:
    results = [result(*labels)]
    return render_reply(results, settings, tr=translator.reply_words(results, settings)).text


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.label_translation" and r.levelname == "WARNING"]


# ---- the fake ---------------------------------------------------------------------------------------------------


def raw_call(fake_translate, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        fake_translate.url,
        data=json.dumps(body).encode(),
        headers={
            "X-Amz-Target": TARGET_PREFIX + "TranslateText",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test",
        },
    )
    return json_answer(request)


def test_the_fake_speaks_translatetexts_json_protocol_and_refuses_what_amazon_translate_refuses(fake_translate):
    ok = {"Text": "Widget", "SourceLanguageCode": "en", "TargetLanguageCode": "ja"}
    assert raw_call(fake_translate, ok) == (
        200,
        {"TranslatedText": "ウィジェット", "SourceLanguageCode": "en", "TargetLanguageCode": "ja"},
    )
    refused = {
        "TextSizeLimitExceededException": {**ok, "Text": "é" * 5001},  # 10,002 bytes of UTF-8
        "ValidationException": {"SourceLanguageCode": "en", "TargetLanguageCode": "ja"},
        "UnsupportedLanguagePairException": {**ok, "TargetLanguageCode": "jp"},
        "SerializationException": {**ok, "Formality": "FORMAL"},  # Settings' member, not the request's
    }
    for code, body in refused.items():
        status, answer = raw_call(fake_translate, body)
        assert (status, answer["__type"]) == (400, code), body
    assert raw_call(fake_translate, {**ok, "Text": "é" * 5000})[0] == 200  # exactly 10,000 bytes

    fake_translate.throttle_next()
    fake_translate.fail_next()
    assert [raw_call(fake_translate, ok)[1]["__type"] for _ in range(2)] == [
        "ThrottlingException",
        "InternalServerException",
    ]
    assert fake_translate.texts()[-1] == "Widget"


# ---- the store, both backends -------------------------------------------------------------------------------------


def test_translations_are_kept_per_language_for_good_and_read_many_at_once(make_store):
    translations = make_store().translations
    assert translations.translations("ja", ["Widget", "Gizmo"]) == {}

    translations.keep_translation("ja", "Widget", "ウィジェット")
    translations.keep_translation("ja", "Gizmo", "ギズモ")
    translations.keep_translation("fr", "Widget", "gadget")
    translations.keep_translation("ja", "Gizmo", "小物")  # replaced

    found = translations.translations("ja", ["Widget", "Gizmo", "Sprocket"])
    assert found == {"Widget": "ウィジェット", "Gizmo": "小物"}
    assert translations.translations("fr", ["Widget", "Gizmo"]) == {"Widget": "gadget"}
    many = [f"Label {n}" for n in range(101)]  # past one BatchGetItem's 100 keys
    for name in many:
        translations.keep_translation("ja", name, name.upper())
    assert len(translations.translations("ja", many)) == 101


def test_translate_calls_and_characters_are_counted_apart_from_the_rekognition_calls_and_their_cap(make_store):
    usage = make_store().usage
    usage.count_translation("2026-12", 6)
    usage.count_translation("2026-12", 12)
    usage.count_translation("2026-11", 5)

    assert usage.count_call("2026-12", "DetectLabels", limit=1) == 1  # the cap counts Rekognition alone
    december = usage.month_usage("2026-12")
    assert (december.translate_calls, december.translate_characters) == (2, 18)
    assert december.total_calls == 1 and december.calls["DetectLabels"] == 1
    assert usage.month_usage("2026-12", channel_id="C1").translate_calls == 2  # the workspace's, like calls
    assert usage.month_usage("2026-11").translate_characters == 5


# ---- the translator -----------------------------------------------------------------------------------------------


def test_a_missing_name_is_translated_once_ever_and_the_tables_names_never(translator, store, fake_translate):
    assert reply_text(translator, CAT, WIDGET, Label("GPS", 90.0)) == "猫 99.2% · ウィジェット 97.0% · GPS 90.0%"
    assert reply_text(translator, WIDGET) == "ウィジェット 97.0%"
    assert fake_translate.texts() == ["Widget"]  # GPS is in the table as GPS: not sent either
    assert (fake_translate.calls[0].source, fake_translate.calls[0].target) == ("en", "ja")
    assert store.translations.translations("ja", ["Widget"]) == {"Widget": "ウィジェット"}

    # Another process over the same store: read from it, not translated again.
    again = LabelTranslator(store.translations, usage=store.usage)
    assert reply_text(again, WIDGET, Label("Space Heater", 80.0)) == "ウィジェット 97.0% · 電気ストーブ 80.0%"
    assert fake_translate.texts() == ["Widget", "Space Heater"]
    month = store.usage.month_usage(usage_month(time.time()))
    assert (month.translate_calls, month.translate_characters) == (2, len("Widget") + len("Space Heater"))
    assert month.total_calls == 0


def test_english_channels_and_translate_off_look_nothing_up(aws_env, fake_translate):
    class NoStore:
        def translations(self, language, names):
            raise AssertionError("looked up")

        keep_translation = translations

    assert reply_text(LabelTranslator(NoStore()), WIDGET, settings=EN) == "Widget 97.0%"
    assert reply_text(LabelTranslator(NoStore(), enabled=False), CAT, WIDGET) == "猫 99.2% · Widget 97.0%"
    assert fake_translate.calls == []


def test_a_failure_shows_the_english_name_logs_one_warning_a_burst_and_is_tried_again(
    translator, store, fake_translate, caplog
):
    caplog.set_level(logging.DEBUG, logger="bot.label_translation")
    translator.quiet_seconds = 0  # no pause after a failure: the next reply tries at once
    fake_translate.fail_next(times=4)  # 500 InternalServerException: each call's attempt and its retry

    assert reply_text(translator, WIDGET, Label("Gizmo", 90.0)) == "Widget 97.0% · Gizmo 90.0%"
    assert reply_text(translator, WIDGET) == "Widget 97.0%"
    assert fake_translate.texts() == ["Widget"] * 4  # the first failure ends a pass: Gizmo waits for the next
    assert len(warnings(caplog)) == 1 and "InternalServerException" in warnings(caplog)[0]
    assert store.translations.translations("ja", ["Widget", "Gizmo"]) == {}

    assert reply_text(translator, WIDGET, Label("Gizmo", 90.0)) == "ウィジェット 97.0% · ja:Gizmo 90.0%"
    assert "Amazon Translate answers again" in caplog.text
    fake_translate.fail_next(times=2, code="AccessDeniedException", status=400)
    assert reply_text(translator, Label("Sprocket", 88.0)) == "Sprocket 88.0%"
    assert len(warnings(caplog)) == 2 and "translate:TranslateText permission" in warnings(caplog)[1]


def test_after_a_failure_replies_make_no_call_until_the_quiet_is_over(aws_env, store, fake_translate):
    now = [100.0]
    translator = LabelTranslator(store.translations, clock=lambda: now[0], quiet_seconds=30, tps=100)
    fake_translate.fail_next(times=2)
    assert reply_text(translator, WIDGET) == "Widget 97.0%"
    now[0] += 29
    assert reply_text(translator, WIDGET) == "Widget 97.0%"
    assert len(fake_translate.calls) == 2
    now[0] += 2
    assert reply_text(translator, WIDGET) == "ウィジェット 97.0%"


def test_a_slow_translate_costs_the_reply_its_timeouts_at_most(aws_env, store, fake_translate, caplog):
    translator = LabelTranslator(store.translations, client=build_translate_client(read_timeout=0.15))
    fake_translate.slow_next(1.0, times=2)

    started = time.monotonic()
    assert reply_text(translator, WIDGET, Label("Gizmo", 90.0)) == "Widget 97.0% · Gizmo 90.0%"

    assert time.monotonic() - started < 0.9  # two attempts of 0.15 s and a backoff, not the 1 s answers
    assert len(warnings(caplog)) == 1 and "ReadTimeout" in warnings(caplog)[0]
    assert store.translations.translations("ja", ["Widget"]) == {}


def test_without_credentials_the_english_name_and_one_warning(aws_env, store, fake_translate, monkeypatch, caplog):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    translator = LabelTranslator(store.translations)

    assert reply_text(translator, CAT, WIDGET) == "猫 99.2% · Widget 97.0%"
    assert fake_translate.calls == []
    assert len(warnings(caplog)) == 1 and "NoCredentials" in warnings(caplog)[0]


def test_a_throttled_attempt_is_retried_and_every_attempt_paced_counted_and_measured(translator, store, fake_translate):
    translator.limiter = CountingLimiter(100)
    fake_translate.throttle_next()

    assert reply_text(translator, WIDGET, Label("Gizmo", 90.0)) == "ウィジェット 97.0% · ja:Gizmo 90.0%"

    assert [call.outcome for call in fake_translate.calls] == ["ThrottlingException", "ok", "ok"]
    assert translator.limiter.acquired == 3  # the retry waited for its turn too
    month = store.usage.month_usage(usage_month(time.time()))
    characters = 2 * len("Widget") + len("Gizmo")  # what each attempt sent
    assert (month.translate_calls, month.translate_characters) == (3, characters)
    counts = translator._metrics.counts
    assert counts[("translate_calls", ("outcome", "throttled"))] == 1
    assert counts[("translate_calls", ("outcome", "ok"))] == 2
    assert counts[("translate_characters",)] == characters
    assert counts[("translate_cost_usd",)] == pytest.approx(characters * 15 / 1_000_000)


def test_a_pass_starts_no_call_after_its_time_and_the_tps_paces_the_calls(aws_env, store, fake_translate):
    now = [1000.0]

    def wait(condition, seconds: float) -> None:  # the pacer's wait, on the test's clock
        now[0] += seconds

    translator = LabelTranslator(store.translations, clock=lambda: now[0], pass_seconds=0.5)
    translator.limiter = RateLimiter(2, clock=lambda: now[0], wait=wait)
    names = [Label(name, 90.0 - n) for n, name in enumerate(("Gizmo", "Sprocket", "Doohickey"))]

    assert reply_text(translator, *names) == "ja:Gizmo 90.0% · ja:Sprocket 89.0% · Doohickey 88.0%"
    # Two calls a second: the third would start a second after the first, past the pass's half second.
    assert fake_translate.texts() == ["Gizmo", "Sprocket"]
    assert store.translations.translations("ja", ["Doohickey"]) == {}


def test_both_metrics_backends_know_the_translate_counters():
    prometheus = PrometheusMetrics()
    prometheus.count("translate_calls", outcome="ok")
    prometheus.count("translate_characters", 6)
    prometheus.count("translate_cost_usd", 0.00009)
    exposition = prometheus.exposition().decode()
    assert 'labelbot_translate_calls_total{outcome="ok"} 1.0' in exposition
    assert "labelbot_translate_characters_total 6.0" in exposition
    assert "labelbot_translate_cost_usd_total 9e-05" in exposition
    cloudwatch = CloudWatchMetrics()
    for name in ("translate_calls", "translate_characters", "translate_cost_usd"):
        cloudwatch.count(name, 1.0)  # a name the EMF table lacks would raise


# ---- usage, config ------------------------------------------------------------------------------------------------


def test_the_usage_answer_counts_translate_calls_and_characters_and_their_cost():
    calls = {"DetectLabels": 1000, "DetectModerationLabels": 0, "DetectText": 0}
    images = {"seen": 1000, "labelled": 1000, "held": 0, "failed": 0, "limited": 0, "cache_hits": 0}
    this = MonthUsage("2026-12", calls, images, translate_calls=40, translate_characters=200_000)
    last = MonthUsage("2026-11", calls, images)

    assert month_cost(this, PRICES_USD) == pytest.approx(1.0 + 3.0)  # $15 per million characters
    answer = describe_usage(this, last, PRICES_USD, channel_id=None)
    table = answer.split("```")[1].splitlines()
    assert [line.split()[-2:] for line in table if line.startswith("Amazon Translate calls")] == [["40", "0"]]
    assert [line.split()[-2:] for line in table if "characters sent" in line] == [["200,000", "0"]]
    assert [line.split()[-2:] for line in table if line.startswith("estimated cost")] == [["$4.00", "$1.00"]]
    assert "Rekognition calls" in answer and "1,000 of" not in answer  # no limit set
    assert "_Amazon Translate at $15.00 per million characters sent (Amazon Translate list price" in answer
    assert "https://aws.amazon.com/translate/pricing/, 2026-12-07" in answer

    assert "Amazon Translate" not in describe_usage(last, last, PRICES_USD, channel_id=None)  # none: no rows


def test_translate_settings_are_validated_naming_the_variable():
    environ = {"SLACK_BOT_TOKEN": "xoxb-1-2", "SLACK_SIGNING_SECRET": "secret"}
    config = load_config(environ, mode="http")
    assert (config.translate, config.translate_tps) == (True, 5.0)
    assert load_config({**environ, "LABELBOT_TRANSLATE": "OFF"}, mode="http").translate is False
    for name, value in (("LABELBOT_TRANSLATE", "sometimes"), ("LABELBOT_TRANSLATE_TPS", "0")):
        with pytest.raises(ConfigError, match=name):
            load_config({**environ, name: value}, mode="http")


def test_render_reply_takes_the_words_it_is_given():
    tr = words_for("ja").with_labels({"Widget": "ウィジェット", "Cat": "ねこ"})  # the table's Cat wins
    assert render_reply([result(CAT, WIDGET)], JA, tr=tr).text == "猫 99.2% · ウィジェット 97.0%"
    assert render_reply([result(CAT, WIDGET)], JA).text == "猫 99.2% · Widget 97.0%"


# ---- end to end ---------------------------------------------------------------------------------------------------


@both_runtimes
def test_a_label_the_table_lacks_is_translated_once_in_a_japanese_channel(
    start_bot, fake_slack, aws_env, fake_translate, caplog, monkeypatch
):
    box = {"BoundingBox": {"Width": 0.5, "Height": 0.5, "Left": 0.1, "Top": 0.1}, "Confidence": 97.0}
    aws_env.labels = [{"Name": "Widget", "Confidence": 97.0, "Parents": [], "Instances": [box]}]
    fake_translate.fail_next(times=2)  # the first reply's call, and its retry
    bot = start_bot(LABELBOT_LANGUAGE="ja")
    bot.services.pipeline.translator.quiet_seconds = 0  # the next reply tries again at once

    def reply(n: int) -> str:
        image = fake_slack.add_file(f"F{n}", fixture_bytes("cat.jpg") + bytes([n]), "x.jpg", "image/jpeg", "jpg")
        event = file_share_event(f"C000{n}", [image])  # a channel each: no second's wait between its posts
        bot.post_event(event)
        fake_slack.wait_for_posts(n, timeout=15)
        return next(p["text"] for p in fake_slack.posts() if p.get("thread_ts") == event["ts"])

    assert reply(1) == "Widget 97.0%"  # Translate failed: the English name, and the reply went out
    assert len(warnings(caplog)) == 1
    assert reply(2) == "ウィジェット 97.0%"
    assert reply(3) == "ウィジェット 97.0%"  # another image with the label: no call

    # Its Show where picture is captioned with the kept name, as the reply named it: no call
    captions = []
    monkeypatch.setattr(
        where_picture, "caption_text", lambda *a: captions.append(where_picture_caption(*a)) or captions[-1]
    )
    third = next(m for m in fake_slack.thread_messages if m["channel"] == "C0003" and m.get("blocks"))
    payload = block_actions(
        third, SHOW_WHERE_ACTION, user="UALICE", response_url=f"{fake_slack.url}/api/response_url.x"
    )
    assert slack_requests.post_interaction(bot.events_url, payload).status == 200
    assert fake_slack.wait_for_uploads(1)[0]["title"] == "場所: x.jpg"
    assert captions == ["ウィジェット 97%"]

    assert fake_translate.texts() == ["Widget"] * 3  # two failed attempts, then the one translation ever
    assert len(aws_env.calls_to("DetectLabels")) == 3
    stores = bot.services.stores
    assert stores.translations.translations("ja", ["Widget"]) == {"Widget": "ウィジェット"}
    month = stores.usage.month_usage(usage_month(time.time()))
    assert (month.translate_calls, month.translate_characters, month.total_calls) == (3, 18, 3)
