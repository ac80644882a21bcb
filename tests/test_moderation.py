"""Moderation's pure rules (bot.moderation) and its Rekognition API (RekognitionModerator): what is held, the
category names a channel may ignore, the request, the answer, the errors and its own pace."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from botocore.stub import Stubber
from PIL import Image

from bot.moderation import (
    MODERATION_CATEGORIES,
    ModerationLabel,
    UnknownCategory,
    categories_named,
    category_named,
    held_categories,
)
from bot.rekognition import (
    ImageRejected,
    RekognitionBusy,
    RekognitionLabeler,
    RekognitionModerator,
    build_rekognition_client,
)
from tests.conftest import CountingLimiter


def jpeg(width: int = 120, height: int = 100) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 40)).save(out, "JPEG")
    return out.getvalue()


IMAGE = jpeg()
SWIMWEAR = [
    {"Name": "Swimwear or Underwear", "Confidence": 91.0, "ParentName": "", "TaxonomyLevel": 1},
    {
        "Name": "Female Swimwear or Underwear",
        "Confidence": 91.0,
        "ParentName": "Swimwear or Underwear",
        "TaxonomyLevel": 2,
    },
]


# ---- the rules -----------------------------------------------------------------------------------------------


def test_there_are_the_ten_top_level_categories_of_model_7():
    assert len(MODERATION_CATEGORIES) == len(set(MODERATION_CATEGORIES)) == 10
    assert {"Explicit", "Violence", "Alcohol", "Swimwear or Underwear", "Hate Symbols"} <= set(MODERATION_CATEGORIES)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("alcohol", "Alcohol"),
        ("  SWIMWEAR   or underwear ", "Swimwear or Underwear"),
        ("Drugs and Tobacco", "Drugs & Tobacco"),
        ("rude gestures", "Rude Gestures"),
    ],
)
def test_a_category_is_found_whatever_its_case_spacing_or_and(typed, meant):
    assert category_named(typed) == meant


def test_an_unknown_category_is_refused_with_the_closest_name():
    with pytest.raises(UnknownCategory, match=r"“Alcohl” is not one of .*did you mean “Alcohol”"):
        category_named("Alcohl")
    with pytest.raises(UnknownCategory) as refused:
        category_named("  Spaceships ")
    assert "did you mean" not in str(refused.value)
    assert (refused.value.name, refused.value.suggestion) == ("Spaceships", None)
    with pytest.raises(UnknownCategory) as refused:
        category_named("hate  symbol")
    assert (refused.value.name, refused.value.suggestion) == ("hate symbol", "Hate Symbols")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("swimwear", "Swimwear or Underwear"),  # a word of one long name
        ("Tobacco", "Drugs & Tobacco"),
        ("Explicit Nudity", "Explicit"),  # a second-level name: its top level
        ("graphic violence", "Violence"),
        ("ing", None),  # in Kissing and Gambling: neither is meant
    ],
)
def test_a_second_level_name_or_a_word_of_one_category_suggests_it(typed, meant):
    with pytest.raises(UnknownCategory) as refused:
        category_named(typed)
    assert refused.value.suggestion == meant


def test_a_list_of_categories_is_each_once_in_the_taxonomys_order_and_none_is_empty():
    assert categories_named("Swimwear or Underwear, alcohol,Alcohol") == ("Swimwear or Underwear", "Alcohol")
    assert categories_named(" None ") == ()
    with pytest.raises(UnknownCategory):
        categories_named(" , ")
    with pytest.raises(UnknownCategory, match="Gamblin"):
        categories_named("Alcohol, Gamblin")


def label(name: str, confidence: float, parent: str = "", level: int = 1) -> ModerationLabel:
    return ModerationLabel(name, confidence, parent, level)


def test_an_image_is_held_for_each_counted_category_at_or_above_the_threshold():
    found = [
        label("Violence", 70.0),
        label("Weapons", 88.0, "Violence", 2),
        label("Alcohol", 59.9),
        label("Alcoholic Beverages", 59.9, "Alcohol", 2),
    ]
    assert held_categories(found, 60.0) == (("Violence", 88.0),)  # highest confidence of the category
    assert held_categories(found, 88.0) == (("Violence", 88.0),)  # at the threshold counts
    assert held_categories(found, 88.1) == ()
    assert held_categories(found, 50.0) == (("Violence", 88.0), ("Alcohol", 59.9))  # most confident first


def test_an_ignored_category_never_holds_an_image_and_its_lower_levels_go_with_it():
    found = [label("Female Swimwear or Underwear", 97.0, "Swimwear or Underwear", 2)]  # L1 not in the answer
    assert held_categories(found, 60.0) == (("Swimwear or Underwear", 97.0),)
    assert held_categories(found, 60.0, ignored=("Swimwear or Underwear",)) == ()


def test_an_l3_label_without_its_parents_in_the_answer_finds_its_category_through_the_taxonomy():
    found = [label("Exposed Male Genitalia", 95.0, "Explicit Nudity", 3)]
    assert held_categories(found, 60.0) == (("Explicit", 95.0),)
    assert held_categories(found, 60.0, ignored=("Alcohol",)) == (("Explicit", 95.0),)


def test_a_category_the_taxonomy_does_not_know_counts_failing_closed():
    found = [label("Something New", 80.0, "", 1)]
    assert held_categories(found, 60.0, ignored=MODERATION_CATEGORIES) == (("Something New", 80.0),)


# ---- the API: Stubber checks the request against Rekognition's service model ------------------------------------


@pytest.fixture
def stubbed(stub_rekognition_client) -> Iterator[tuple[RekognitionModerator, Stubber]]:
    with Stubber(stub_rekognition_client) as stubber:
        yield RekognitionModerator(stub_rekognition_client), stubber
        stubber.assert_no_pending_responses()


def test_detect_moderation_labels_sends_the_image_and_threshold_and_reads_the_taxonomy(stubbed):
    moderator, stubber = stubbed
    stubber.add_response(
        "detect_moderation_labels",
        {"ModerationLabels": SWIMWEAR, "ModerationModelVersion": "7.0"},
        expected_params={"Image": {"Bytes": IMAGE}, "MinConfidence": 60.0},
    )

    assert moderator.detect_moderation_labels(IMAGE, 60.0) == (
        ModerationLabel("Swimwear or Underwear", 91.0, "", 1),
        ModerationLabel("Female Swimwear or Underwear", 91.0, "Swimwear or Underwear", 2),
    )


def test_a_moderation_failure_is_a_rekognition_error_saying_the_image_could_not_be_checked(stubbed):
    moderator, stubber = stubbed
    stubber.add_client_error("detect_moderation_labels", "InternalServerError", http_status_code=500)
    with pytest.raises(RekognitionBusy, match="I couldn't check this image right now"):
        moderator.detect_moderation_labels(IMAGE, 60.0)


# ---- the API against the loopback Rekognition: its image contract, and a pace of its own ------------------------


def test_the_fake_answers_moderation_labels_at_or_above_min_confidence(aws_env):
    alcohol = {"Name": "Alcohol", "Confidence": 55.0, "ParentName": "", "TaxonomyLevel": 1}
    aws_env.moderation_labels = [*SWIMWEAR, alcohol]
    moderator = RekognitionModerator(build_rekognition_client(4))

    found = moderator.detect_moderation_labels(IMAGE, 60.0)

    assert [item.name for item in found] == ["Swimwear or Underwear", "Female Swimwear or Underwear"]
    assert [call.operation for call in aws_env.calls] == ["DetectModerationLabels"]


def test_an_image_outside_the_contract_is_rejected_by_moderation_too(aws_env):
    moderator = RekognitionModerator(build_rekognition_client(4))
    with pytest.raises(ImageRejected):
        moderator.detect_moderation_labels(b"GIF89a not a JPEG or PNG", 60.0)
    with pytest.raises(ImageRejected):
        moderator.detect_moderation_labels(jpeg(40, 40), 60.0)
    assert [call.outcome for call in aws_env.calls_to("DetectModerationLabels")] == [
        "InvalidImageFormatException",
        "InvalidParameterException",
    ]


def test_each_api_is_paced_by_its_own_quota(aws_env):
    """Rekognition's quotas are per API: every moderation attempt (retries too) takes a slot of moderation's pacer
    only, every labels attempt one of the labels pacer."""
    aws_env.fail_next("ThrottlingException", 400, operation="DetectModerationLabels")
    client = build_rekognition_client(4)
    moderation_pace, labels_pace = CountingLimiter(50), CountingLimiter(50)
    moderator = RekognitionModerator(client, limiter=moderation_pace)
    labeler = RekognitionLabeler(client, limiter=labels_pace)

    for _ in range(3):
        moderator.detect_moderation_labels(IMAGE, 60.0)
    labeler.detect_labels(IMAGE, 75, 5)

    assert len(aws_env.calls_to("DetectModerationLabels")) == moderation_pace.acquired == 4  # the retry included
    assert len(aws_env.calls_to("DetectLabels")) == labels_pace.acquired == 1


def test_a_failure_forced_on_one_operation_leaves_the_other_alone(aws_env):
    aws_env.fail_next("AccessDeniedException", 400, operation="DetectModerationLabels")
    client = build_rekognition_client(4)

    assert RekognitionLabeler(client).detect_labels(IMAGE, 75, 5)[0].name == "Cat"
    with pytest.raises(Exception, match="AWS access isn't set up"):
        RekognitionModerator(client).detect_moderation_labels(IMAGE, 60.0)
