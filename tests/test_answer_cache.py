"""The analysis steps' answer cache (Stores.answers), on SQLite and on DynamoDB alike (make_store): answers by (step,
key) as JSON, exactly as they were cached; then StepCache, which a step (ModerationStep) uses, end to end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from bot.analysis import ANALYSIS_CACHE_DAYS, ImageAnalysis, ModerationStep, StepCache, cache_key, content_hash
from bot.rekognition import RekognitionModerator, build_rekognition_client
from bot.render import Label
from bot.settings import ChannelSettings
from bot.store import Stores
from bot.store.dynamodb import open_dynamodb_stores
from bot.upkeep import Upkeep
from tests.conftest import Clock, fixture_bytes

DAY = 86400
ANSWER = [
    {"name": "Violence", "confidence": 82.123456789012345, "parent": "", "level": 1, "counted": True},
    {"name": "Weapons", "confidence": 0.1 + 0.2, "parent": "Violence", "level": 2, "counted": False, "x": None},
    {"nested": [[1, 2.5, "three"], {"deep": [1e-300, 1.7976931348623157e308, -0.0]}]},
]


def test_an_answer_comes_back_exactly_as_it_was_cached(make_store):
    store = make_store()

    store.answers.cache_answer("moderation", "key", ANSWER)

    found = store.answers.cached_answer("moderation", "key", newer_than=0)
    assert found == ANSWER
    assert [type(item["confidence"]) for item in found[:2]] == [float, float]  # no Decimal from DynamoDB
    assert found[1]["confidence"] == 0.1 + 0.2 and repr(found[0]["confidence"]) == repr(ANSWER[0]["confidence"])
    for scalar in ("text", 3, 2.5, True, None, [], {}):
        store.answers.cache_answer("text", f"scalar-{scalar!r}", scalar)
        assert store.answers.cached_answer("text", f"scalar-{scalar!r}", newer_than=0) == scalar
    store.answers.cache_answer("moderation", "key", [])  # cached afresh: replaced
    assert store.answers.cached_answer("moderation", "key", newer_than=0) == []


def test_steps_and_the_label_cache_keep_their_own_entries_under_the_same_key(make_store):
    store = make_store()
    labels = (Label("Cat", 99.2, ("Animal",), ()),)
    store.label_cache.cache_labels("key", labels)

    store.answers.cache_answer("moderation", "key", ["moderated"])
    store.answers.cache_answer("text", "key", ["texted"])
    store.answers.cache_answer("labels", "key", ["a step named labels"])

    assert store.answers.cached_answer("moderation", "key", newer_than=0) == ["moderated"]
    assert store.answers.cached_answer("text", "key", newer_than=0) == ["texted"]
    assert store.answers.cached_answer("labels", "key", newer_than=0) == ["a step named labels"]
    assert store.answers.cached_answer("moderation", "other", newer_than=0) is None
    assert store.answers.cached_answer("faces", "key", newer_than=0) is None
    assert store.label_cache.cached_labels("key", newer_than=0) == labels
    assert store.label_cache.purge_label_cache(float("inf")) == 1  # each purge counts its own entries only
    assert store.answers.cached_answer("moderation", "key", newer_than=0) == ["moderated"]
    assert store.answers.purge_answers(float("inf")) == 3
    assert store.answers.cached_answer("text", "key", newer_than=0) is None


def test_an_answer_is_read_only_if_cached_at_or_after_newer_than(make_store):
    clock = Clock()
    store = make_store(clock=clock)

    store.answers.cache_answer("moderation", "key", ["answer"])

    assert store.answers.cached_answer("moderation", "key", newer_than=clock.now) == ["answer"]
    assert store.answers.cached_answer("moderation", "key", newer_than=clock.now - 60) == ["answer"]
    assert store.answers.cached_answer("moderation", "key", newer_than=clock.now + 1) is None


def test_answers_are_purged_by_age(make_store):
    clock = Clock()
    store = make_store(clock=clock)
    start = clock.now
    store.answers.cache_answer("moderation", "old", ["old"])
    clock.now += 10 * DAY
    store.answers.cache_answer("moderation", "new", ["new"])
    store.answers.cache_answer("text", "new", ["new"])

    assert store.answers.purge_answers(start) == 0  # "before": not at
    assert store.answers.purge_answers(start + 5 * DAY) == 1
    assert store.answers.cached_answer("moderation", "old", newer_than=0) is None
    assert store.answers.cached_answer("moderation", "new", newer_than=0) == ["new"]
    assert store.answers.purge_answers(start + 5 * DAY) == 0
    assert store.answers.purge_answers(clock.now + 1) == 2


@pytest.fixture
def dynamo(local_dynamodb) -> Iterator[Callable[..., Stores]]:
    """dynamo(**options) -> the DynamoDB stores on fresh tables; their backend's client reads the tables directly."""
    made: list[Stores] = []

    def make(**options) -> Stores:
        made.append(open_dynamodb_stores(local_dynamodb.new_tables(), client=local_dynamodb.client(), **options))
        return made[-1]

    yield make
    for store in made:
        store.close()


def test_on_dynamodb_an_answer_is_json_text_that_expires_with_ttl(dynamo):
    clock = Clock()
    store = dynamo(clock=clock)

    store.answers.cache_answer("moderation", "key", ANSWER)

    item = store.backend.client.get_item(
        TableName=store.backend.jobs_table, Key={"pk": {"S": "cache#key"}, "sk": {"S": "answer#moderation"}}
    )["Item"]
    assert set(item["answer"]) == {"S"}  # a JSON string, not a map of numbers
    assert int(item["expires_at"]["N"]) == int(clock.now + ANALYSIS_CACHE_DAYS * DAY)
    clock.now += (ANALYSIS_CACHE_DAYS + 1) * DAY  # past expires_at; TTL hasn't run (moto never runs it)
    assert store.answers.cached_answer("moderation", "key", newer_than=0) is None
    assert store.answers.purge_answers(clock.now - ANALYSIS_CACHE_DAYS * DAY) == 1  # the purge still counts it


def test_the_hourly_upkeep_expires_cached_answers_after_30_days(make_store):
    clock = Clock()
    store = make_store(clock=clock)
    store.answers.cache_answer("moderation", "key", ["answer"])

    Upkeep(store, slack=None, retention_days=90, clock=lambda: clock.now + 29 * DAY)()
    assert store.answers.cached_answer("moderation", "key", newer_than=0) == ["answer"]
    Upkeep(store, slack=None, retention_days=90, clock=lambda: clock.now + 31 * DAY).purge(clock.now + 31 * DAY)
    assert store.answers.cached_answer("moderation", "key", newer_than=0) is None


def test_a_failing_label_cache_purge_leaves_the_answers_purge_to_run(make_store, caplog):
    class Failing:
        def purge_label_cache(self, older_than: float) -> int:
            raise RuntimeError("the label cache is down")

    clock = Clock()
    store = make_store(clock=clock)
    store.answers.cache_answer("moderation", "key", ["answer"])

    Upkeep(replace(store, label_cache=Failing()), slack=None, retention_days=90).purge(clock.now + 31 * DAY)

    assert store.answers.cached_answer("moderation", "key", newer_than=0) is None
    assert "purging the cached label answers failed" in caplog.text


# ---- StepCache: a step's AnswerCache over the store ---------------------------------------------------------------

VIOLENCE = [
    {"Name": "Violence", "Confidence": 82.37, "ParentName": "", "TaxonomyLevel": 1},
    {"Name": "Weapons", "Confidence": 81.9, "ParentName": "Violence", "TaxonomyLevel": 2},
]
MODERATED = ChannelSettings(threshold=80.0, max_labels=5, moderation=True, moderation_threshold=60.0)
IMAGE_JPEG = fixture_bytes("cat.jpg")


def test_a_moderated_image_analysed_again_costs_no_second_call(aws_env, make_store):
    store = make_store()
    step = ModerationStep(RekognitionModerator(build_rekognition_client(4)), StepCache(store.answers, "moderation"))
    aws_env.moderation_labels = VIOLENCE

    first = ImageAnalysis([step]).analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, MODERATED)
    # Another ImageAnalysis (no in-flight sharing to lean on), a stricter channel: the store's answer, read with its
    # threshold.
    again = ImageAnalysis([step]).analyse(
        content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, replace(MODERATED, moderation_threshold=90.0)
    )

    assert first.held == (("Violence", 82.37),)
    assert again.held == ()  # 82.37% is under 90
    assert [call.operation for call in aws_env.calls] == ["DetectModerationLabels"]
    key = cache_key(content_hash(IMAGE_JPEG), step.cache_params(MODERATED))
    assert store.answers.cached_answer("moderation", key, newer_than=0) == [
        {"name": "Violence", "confidence": 82.37, "parent": "", "level": 1},
        {"name": "Weapons", "confidence": 81.9, "parent": "Violence", "level": 2},
    ]  # as Rekognition answered, floats exact
    assert store.label_cache.cached_labels(key, newer_than=0) is None  # not the label cache's entry
