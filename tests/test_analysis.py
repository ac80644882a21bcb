"""ImageAnalysis: steps in order, each with its own cache entry and call; the image prepared once, only if needed."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from bot.analysis import (
    MODERATION_CALL_MIN_CONFIDENCE,
    Analysis,
    ImageAnalysis,
    LabelsStep,
    ModerationStep,
    TextStep,
    cache_key,
    content_hash,
    label_cache_key,
)
from bot.rekognition import (
    RekognitionBusy,
    RekognitionError,
    RekognitionLabeler,
    RekognitionModerator,
    RekognitionTextReader,
    build_rekognition_client,
)
from bot.render import Label
from bot.settings import ChannelSettings
from tests.conftest import fixture_bytes

SETTINGS = ChannelSettings(threshold=80.0, max_labels=5)
IMAGE = b"downloaded bytes"
IMAGE_JPEG = fixture_bytes("cat.jpg")


class RecordingStep:
    """A step whose answer is its name; records its calls, and keeps its own cache in a dict."""

    def __init__(self, name: str, *, wanted_after: str | None = None, fails: Exception | None = None) -> None:
        self.name = name
        self.wanted_after = wanted_after  # wanted only if this label was found by an earlier step
        self.fails = fails
        self.calls: list[bytes] = []
        self.store: dict[str, tuple[Label, ...]] = {}
        self.gate: threading.Event | None = None

    def wanted(self, settings: ChannelSettings, so_far: Analysis) -> bool:
        return self.wanted_after is None or any(label.name == self.wanted_after for label in so_far.labels)

    def asks_rekognition(self, settings: ChannelSettings) -> bool:
        return True

    def cache_params(self, settings: ChannelSettings) -> list:
        return [self.name, settings.threshold]

    def cached(self, key: str, newer_than: float):
        return self.store.get(key)

    def cache(self, key: str, answer) -> None:
        self.store[key] = answer

    def call(self, image: bytes, settings: ChannelSettings):
        self.calls.append(image)
        if self.gate is not None:
            self.gate.wait(5)
        if self.fails is not None:
            raise self.fails
        return (Label(self.name, 99.0),)

    def add_to(self, analysis: Analysis, answer, settings: ChannelSettings) -> Analysis:
        return replace(analysis, labels=analysis.labels + answer)


class Preparer:
    def __init__(self) -> None:
        self.times = 0

    def __call__(self) -> bytes:
        self.times += 1
        return b"prepared"


def test_steps_run_in_order_on_the_image_prepared_once_and_a_later_step_sees_the_earlier_answers():
    first, second, never = (
        RecordingStep("Text"),
        RecordingStep("Words", wanted_after="Text"),
        RecordingStep("X", wanted_after="Dog"),
    )
    prepare = Preparer()

    found = ImageAnalysis([first, second, never]).analyse(content_hash(IMAGE), prepare, SETTINGS)

    assert [label.name for label in found.labels] == ["Text", "Words"]
    assert first.calls == second.calls == [b"prepared"]  # what Rekognition is sent: the prepared bytes
    assert prepare.times == 1
    assert never.calls == [] and never.store == {}  # not wanted: no call, no cache entry


def test_a_cached_answer_costs_no_call_and_no_preparing_and_each_step_has_its_own_entry():
    labels, text = RecordingStep("labels"), RecordingStep("text")
    analysis = ImageAnalysis([labels, text])
    analysis.analyse(content_hash(IMAGE), Preparer(), SETTINGS)
    prepare = Preparer()

    again = analysis.analyse(content_hash(IMAGE), prepare, SETTINGS)

    assert [label.name for label in again.labels] == ["labels", "text"]
    assert len(labels.calls) == len(text.calls) == 1 and prepare.times == 0
    assert labels.store.keys() != text.store.keys()  # the step's parameters are in its key
    other_settings = analysis.analyse(content_hash(IMAGE), Preparer(), replace(SETTINGS, threshold=90.0))
    assert len(other_settings.labels) == 2 and len(labels.calls) == 2  # a parameter changed: a new call


def test_the_labels_key_is_the_image_and_every_parameter_that_changes_detect_labels():
    key = label_cache_key(IMAGE, SETTINGS)
    assert key == cache_key(content_hash(IMAGE), LabelsStep.cache_params(SETTINGS))
    assert key != label_cache_key(IMAGE + b"x", SETTINGS)
    assert key != label_cache_key(IMAGE, replace(SETTINGS, include=("Dog",)))
    assert key == label_cache_key(IMAGE, replace(SETTINGS, tags=True))  # reactions don't change Rekognition's answer


def test_the_same_image_in_two_workspaces_is_two_calls_and_the_one_workspace_keeps_its_keys():
    step = RecordingStep("labels")
    analysis = ImageAnalysis([step])

    for workspace in ("", "-:T0ONE", "-:T0TWO", "-:T0ONE", ""):
        analysis.analyse(content_hash(IMAGE), Preparer(), SETTINGS, workspace)

    assert len(step.calls) == 3  # "", T0ONE, T0TWO: each once, none reused in another
    # what an admin's release names: one workspace's release never covers the same image in another
    keys = {analysis.analyse(content_hash(IMAGE), Preparer(), SETTINGS, w).content_key for w in ("", "-:T1", "-:T2")}
    assert len(keys) == 3 and content_hash(IMAGE).hexdigest() in keys
    # a single-workspace install's answers, cached before workspaces existed, are found under the same key
    assert cache_key(content_hash(IMAGE), step.cache_params(SETTINGS)) in step.store


def test_two_workers_with_the_same_image_make_one_call():
    step = RecordingStep("labels")
    step.gate = threading.Event()
    analysis = ImageAnalysis([step])
    answers: list[Analysis] = []
    workers = [
        threading.Thread(target=lambda: answers.append(analysis.analyse(content_hash(IMAGE), Preparer(), SETTINGS)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    step.gate.set()
    for worker in workers:
        worker.join(10)

    assert len(step.calls) == 1
    assert answers == [Analysis((Label("labels", 99.0),), content_key=content_hash(IMAGE).hexdigest())] * 2


def test_a_broken_cache_costs_a_call_never_the_answer(caplog):
    step = RecordingStep("labels")

    def broken(*args, **kwargs):
        raise OSError("disk gone")

    step.cached = step.cache = broken

    found = ImageAnalysis([step]).analyse(content_hash(IMAGE), Preparer(), SETTINGS)

    assert found.labels == (Label("labels", 99.0),)
    assert "reading the labels cache failed" in caplog.text and "writing the labels cache failed" in caplog.text


def test_a_step_that_fails_fails_the_analysis_and_caches_nothing():
    step = RecordingStep("labels", fails=RekognitionBusy("busy"))
    with pytest.raises(RekognitionBusy):
        ImageAnalysis([step]).analyse(content_hash(IMAGE), Preparer(), SETTINGS)
    assert step.store == {}


# ---- moderation before labels, through the real Rekognition APIs against the loopback fake ----------------------


class DictCache:
    """An AnswerCache and a label cache in a dict, for steps tested without a store."""

    def __init__(self) -> None:
        self.entries: dict = {}

    def cached(self, key: str, newer_than: float):
        return self.entries.get(key)

    def cache(self, key: str, answer) -> None:
        self.entries[key] = answer

    def cached_labels(self, cache_key: str, *, newer_than: float):
        return self.entries.get(cache_key)

    def cache_labels(self, cache_key: str, labels) -> None:
        self.entries[cache_key] = labels


VIOLENCE = [
    {"Name": "Violence", "Confidence": 82.0, "ParentName": "", "TaxonomyLevel": 1},
    {"Name": "Weapons", "Confidence": 82.0, "ParentName": "Violence", "TaxonomyLevel": 2},
]
MODERATED = replace(SETTINGS, moderation=True, moderation_threshold=60.0)


@pytest.fixture
def moderated_analysis(aws_env):
    client = build_rekognition_client(4)
    cache = DictCache()
    steps = [ModerationStep(RekognitionModerator(client), cache), LabelsStep(RekognitionLabeler(client), cache)]
    return ImageAnalysis(steps), cache


def test_a_held_image_gets_no_detect_labels_call(aws_env, moderated_analysis):
    analysis, _ = moderated_analysis
    aws_env.moderation_labels = VIOLENCE

    found = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, MODERATED)

    assert found.held == (("Violence", 82.0),) and found.labels == ()
    assert [call.operation for call in aws_env.calls] == ["DetectModerationLabels"]
    assert aws_env.calls[0].min_confidence == MODERATION_CALL_MIN_CONFIDENCE


def test_a_safe_or_ignored_image_is_labelled_and_a_repost_costs_no_call(aws_env, moderated_analysis):
    analysis, _ = moderated_analysis
    aws_env.moderation_labels = VIOLENCE
    ignoring = replace(MODERATED, moderation_ignored=("Violence",))

    found = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, ignoring)
    stricter = analysis.analyse(
        content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, replace(MODERATED, moderation_threshold=90)
    )

    assert found.held == () and found.labels[0].name == "Cat"
    assert stricter.held == () and stricter.labels == found.labels  # 82% is under 90: counted, not held
    assert [call.operation for call in aws_env.calls] == ["DetectModerationLabels", "DetectLabels"]  # then cached


def test_with_moderation_off_there_is_no_moderation_call(aws_env, moderated_analysis):
    analysis, _ = moderated_analysis
    aws_env.moderation_labels = VIOLENCE

    found = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, SETTINGS)

    assert found.held == () and found.labels
    assert [call.operation for call in aws_env.calls] == ["DetectLabels"]


def test_a_failed_moderation_call_fails_the_analysis_closed(aws_env, moderated_analysis):
    analysis, cache = moderated_analysis
    aws_env.fail_next("AccessDeniedException", 400, operation="DetectModerationLabels")

    with pytest.raises(RekognitionError, match="AWS access"):
        analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, MODERATED)

    assert aws_env.calls_to("DetectLabels") == [] and cache.entries == {}  # not labelled, nothing cached as safe


# ---- text: DetectText after the labels ----------------------------------------------------------------------------

SCREENSHOT_LABELS = [
    {"Name": "Text", "Confidence": 99.5, "Parents": []},
    {"Name": "Screenshot", "Confidence": 97.0, "Parents": [{"Name": "Text"}]},
]
HANDWRITING = [{"Name": "Handwriting", "Confidence": 93.0, "Parents": [{"Name": "Text"}]}]
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
SCREEN = [
    ("second line", 95.0, (0.1, 0.5, 0.5, 0.05)),
    ("Error: connection refused", 99.0, (0.1, 0.1, 0.6, 0.05)),
    (f"key {AWS_KEY}", 98.0, (0.1, 0.3, 0.6, 0.05)),
    ("blurry", 60.0, (0.1, 0.7, 0.2, 0.05)),  # under LABELBOT_TEXT_MIN_CONFIDENCE
]


@pytest.fixture
def text_analysis(aws_env):
    client = build_rekognition_client(4)
    cache = DictCache()
    text = TextStep(RekognitionTextReader(client), cache, frozenset({"text", "screenshot", "document"}), 80.0)
    steps = [ModerationStep(RekognitionModerator(client), cache), LabelsStep(RekognitionLabeler(client), cache), text]
    return ImageAnalysis(steps), cache, text


def test_a_screenshot_is_read_after_its_labels_in_reading_order_with_its_secrets_hidden_everywhere(
    aws_env, text_analysis
):
    analysis, cache, _ = text_analysis
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, SCREEN

    found = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, SETTINGS)

    assert [call.operation for call in aws_env.calls] == ["DetectLabels", "DetectText"]
    assert aws_env.calls[-1].min_confidence == 80.0
    assert found.text.lines == ("Error: connection refused", "key [hidden]", "second line")
    assert found.text.secrets == ("an AWS access key",)
    assert found.text.boxes == ((0.1, 0.1, 0.6, 0.05), (0.1, 0.3, 0.6, 0.05), (0.1, 0.5, 0.5, 0.05))  # for Show where
    assert found.text.secret_boxes == ((0.1, 0.3, 0.6, 0.05),)  # covered there and in the poster's safe copy
    assert AWS_KEY not in repr(cache.entries)  # the cache keeps the redacted lines only
    again = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, SETTINGS)
    assert again.text == found.text and len(aws_env.calls) == 2  # the cache gives back which lines to cover too


def test_a_text_answer_cached_before_secret_lines_were_told_apart_covers_every_line_of_an_image_with_a_secret(
    text_analysis,
):
    _, cache, text = text_analysis
    boxes = [[0.1, 0.1, 0.6, 0.05], [0.1, 0.3, 0.6, 0.05]]
    cache.cache("old-with", {"lines": ["Error", "key [hidden]"], "secrets": ["an AWS access key"], "boxes": boxes})
    cache.cache("old-without", {"lines": ["Error", "fine"], "secrets": [], "boxes": boxes})

    assert text.cached("old-with", 0).secret_boxes == tuple(map(tuple, boxes))
    assert text.cached("old-without", 0).secret_boxes == ()


def test_auto_reads_only_images_with_a_text_bearing_label_or_parent_and_on_and_off_decide_alone(aws_env, text_analysis):
    analysis, _, _ = text_analysis
    aws_env.text_lines = SCREEN

    cat = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, SETTINGS)  # Cat, Kitten…: no text label
    assert cat.text is None and aws_env.calls_to("DetectText") == []
    on = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, replace(SETTINGS, text="on"))
    assert on.text.lines[0] == "Error: connection refused" and len(aws_env.calls_to("DetectText")) == 1

    aws_env.labels = HANDWRITING  # its parent, Text, is text-bearing
    png = fixture_bytes("logo_alpha.png")
    assert analysis.analyse(content_hash(png), lambda: png, SETTINGS).text is not None
    off = analysis.analyse(content_hash(png + b"x"), lambda: png, replace(SETTINGS, text="off"))
    assert off.text is None and len(aws_env.calls_to("DetectText")) == 2


def test_a_reposted_screenshot_costs_no_detect_text_call_and_a_held_one_is_never_read(aws_env, text_analysis):
    analysis, _, _ = text_analysis
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, SCREEN

    first = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, SETTINGS)
    again = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, SETTINGS)
    assert again.text == first.text and len(aws_env.calls_to("DetectText")) == 1

    aws_env.moderation_labels = VIOLENCE
    held = analysis.analyse(content_hash(IMAGE_JPEG + b"x"), lambda: IMAGE_JPEG, replace(MODERATED, text="on"))
    assert held.held and held.text is None and len(aws_env.calls_to("DetectText")) == 1


def test_a_failed_detect_text_keeps_the_labels_is_counted_and_cached_as_nothing(aws_env, text_analysis, caplog):
    analysis, cache, step = text_analysis
    aws_env.labels, aws_env.text_lines = SCREENSHOT_LABELS, SCREEN
    aws_env.fail_next("AccessDeniedException", 400, operation="DetectText")

    found = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, SETTINGS)

    assert [label.name for label in found.labels] == ["Text", "Screenshot"]
    assert found.text is None and found.text_failed and step.failures == 1
    assert not [entry for entry in cache.entries.values() if isinstance(entry, dict)]  # no text entry
    assert "DetectText failed" in caplog.text
    retried = analysis.analyse(content_hash(IMAGE_JPEG), lambda: IMAGE_JPEG, SETTINGS)  # not cached: asked again
    assert retried.text.lines and len(aws_env.calls_to("DetectText")) == 2
