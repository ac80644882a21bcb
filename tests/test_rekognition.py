"""RekognitionLabeler, RekognitionTextReader and build_rekognition_client: the request, the mapping, errors, retries,
configuration.

(a) botocore's Stubber on a real client checks exactly what is sent and how answers and errors are mapped.
(b) The loopback Rekognition (the `aws_env` fixture) checks boto3's own chain, retries and connection failures.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ParamValidationError
from botocore.retries import standard
from botocore.stub import Stubber
from PIL import Image

from bot.config import ConfigError
from bot.rekognition import (
    MAX_ATTEMPTS,
    ImageRejected,
    RekognitionBusy,
    RekognitionLabeler,
    RekognitionTextReader,
    RekognitionUnavailable,
    aws_session,
    build_rekognition_client,
)
from bot.render import Instance, Label
from bot.screen_text import TextDetection
from bot.store.encoding import label_from_dict, label_to_dict
from tests.conftest import CountingLimiter
from tests.fakes.http_server import json_answer
from tests.fakes.rekognition import CAT_LABELS, FakeRekognition

IMAGE_ERROR_CODES = [
    "InvalidImageFormatException",
    "ImageTooLargeException",
    "InvalidParameterException",
    "ValidationException",
]
ACCESS_ERROR_CODES = ["AccessDeniedException", "UnrecognizedClientException"]


def jpeg(width: int = 120, height: int = 100) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


IMAGE = jpeg()


def rekognition_errors(caplog, level: int = logging.ERROR) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.rekognition" and r.levelno == level]


# ---- (a) Stubber: exactly what is sent, and how answers map ----------------------------------------------


@pytest.fixture
def stubbed(stub_rekognition_client) -> Iterator[tuple[RekognitionLabeler, Stubber]]:
    with Stubber(stub_rekognition_client) as stubber:
        yield RekognitionLabeler(stub_rekognition_client), stubber
        stubber.assert_no_pending_responses()


def test_detect_labels_sends_exactly_the_image_and_settings(stubbed):
    labeler, stubber = stubbed
    stubber.add_response(
        "detect_labels",
        {"Labels": [], "LabelModelVersion": "3.0"},
        expected_params={"Image": {"Bytes": IMAGE}, "MinConfidence": 80.5, "MaxLabels": 3},
    )

    assert labeler.detect_labels(IMAGE, 80.5, 3) == ()


def test_detect_labels_maps_the_response_into_labels(stubbed):
    labeler, stubber = stubbed
    stubber.add_response(
        "detect_labels",
        {
            "Labels": [
                {
                    "Name": "Cat",
                    "Confidence": 99.21,
                    "Parents": [{"Name": "Animal"}, {"Name": "Pet"}],
                    "Aliases": [{"Name": "Kitty"}],
                    "Categories": [{"Name": "Animals and Pets"}],
                    "Instances": [],
                },
                {"Name": "Carpet", "Confidence": 61, "Parents": [], "Aliases": []},
                {"Name": "Floor", "Confidence": 55.5},  # Parents and Aliases may be absent
            ],
            "LabelModelVersion": "3.0",
        },
        expected_params={"Image": {"Bytes": IMAGE}, "MinConfidence": 50, "MaxLabels": 10},
    )

    labels = labeler.detect_labels(IMAGE, 50, 10)

    assert labels == (
        Label(name="Cat", confidence=99.21, parents=("Animal", "Pet"), aliases=("Kitty",)),
        Label(name="Carpet", confidence=61.0, parents=(), aliases=()),
        Label(name="Floor", confidence=55.5, parents=(), aliases=()),
    )
    assert all(isinstance(label.confidence, float) for label in labels)


def test_a_labels_instances_are_kept_as_boxes_of_the_image_sent(stubbed):
    labeler, stubber = stubbed
    box = {"Width": 0.25, "Height": 0.5, "Left": 0.1, "Top": 0.2}
    stubber.add_response(
        "detect_labels",
        {
            "Labels": [
                {
                    "Name": "Dog",
                    "Confidence": 98.0,
                    "Instances": [
                        {"BoundingBox": box, "Confidence": 97.5},
                        {"BoundingBox": {**box, "Left": 0.6}, "Confidence": 88.25},
                    ],
                },
                {"Name": "Grass", "Confidence": 90.0, "Instances": []},
            ]
        },
        expected_params={"Image": {"Bytes": IMAGE}, "MinConfidence": 50, "MaxLabels": 10},
    )

    dog, grass = labeler.detect_labels(IMAGE, 50, 10)

    assert dog.instances == (Instance(0.1, 0.2, 0.25, 0.5, 97.5), Instance(0.6, 0.2, 0.25, 0.5, 88.25))
    assert grass.instances == ()
    assert label_from_dict(label_to_dict(dog)) == dog and "instances" not in label_to_dict(grass)  # as stored


@pytest.mark.parametrize("code", IMAGE_ERROR_CODES)
def test_an_image_error_is_image_rejected(stubbed, caplog, code):
    labeler, stubber = stubbed
    stubber.add_client_error("detect_labels", service_error_code=code, service_message="bad", http_status_code=400)

    with pytest.raises(ImageRejected, match="couldn't read this image"):
        labeler.detect_labels(IMAGE, 75, 5)

    assert rekognition_errors(caplog) == []  # the image's problem, not the bot's


@pytest.mark.parametrize("code", ACCESS_ERROR_CODES)
def test_an_access_error_is_unavailable_and_logged_once(stubbed, caplog, code):
    labeler, stubber = stubbed
    caplog.set_level(logging.DEBUG, logger="bot.rekognition")
    for _ in range(3):
        stubber.add_client_error("detect_labels", service_error_code=code, service_message="no", http_status_code=400)

    for _ in range(3):
        with pytest.raises(RekognitionUnavailable, match="AWS access isn't set up"):
            labeler.detect_labels(IMAGE, 75, 5)

    (error,) = rekognition_errors(caplog)
    assert code in error.getMessage()
    assert len(rekognition_errors(caplog, logging.DEBUG)) == 2  # the repeats are still there at DEBUG


def test_each_access_cause_gets_its_own_error_line(stubbed, caplog):
    labeler, stubber = stubbed
    for code in ACCESS_ERROR_CODES * 2:
        stubber.add_client_error("detect_labels", service_error_code=code, service_message="no", http_status_code=403)

    for _ in range(4):
        with pytest.raises(RekognitionUnavailable):
            labeler.detect_labels(IMAGE, 75, 5)

    assert [r.getMessage().split("(")[1].split(")")[0] for r in rekognition_errors(caplog)] == ACCESS_ERROR_CODES


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerError", "SomethingNew"])
def test_any_other_service_error_is_busy(stubbed, caplog, code):
    labeler, stubber = stubbed
    stubber.add_client_error("detect_labels", service_error_code=code, service_message="x", http_status_code=500)

    with pytest.raises(RekognitionBusy):
        labeler.detect_labels(IMAGE, 75, 5)

    assert rekognition_errors(caplog) == []
    assert any(code in r.getMessage() for r in rekognition_errors(caplog, logging.WARNING))


# ---- (b) the loopback Rekognition through boto3's own chain ---------------------------------------------


@pytest.fixture
def fast_throttle_backoff(monkeypatch) -> list[float]:
    """Scales botocore's standard backoff down 50x and records the delays it chose (throttling waits 0-2^n s)."""
    delays: list[float] = []
    original = standard.ExponentialBackoff.delay_amount

    def delay_amount(self, context):
        delay = original(self, context)
        delays.append(delay)
        return delay / 50

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", delay_amount)
    return delays


def test_the_client_is_configured_from_the_environment(aws_env: FakeRekognition, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-1")  # AWS_REGION wins, as in the other AWS SDKs

    client = build_rekognition_client(8)

    assert client.meta.region_name == "eu-west-2"
    assert client.meta.endpoint_url == aws_env.url
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}
    assert client.meta.config.max_pool_connections >= 8
    labels = RekognitionLabeler(client).detect_labels(IMAGE, 90, 2)
    assert [label.name for label in labels] == ["Cat", "Kitten"]
    (call,) = aws_env.calls
    assert (call.min_confidence, call.max_labels, call.image) == (90, 2, IMAGE)
    assert "/eu-west-2/rekognition/aws4_request" in call.headers["authorization"]
    assert "Credential=AKIDTESTTESTTEST/" in call.headers["authorization"]


def test_aws_default_region_alone_is_enough(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")

    client = build_rekognition_client(2)

    assert client.meta.region_name == "ap-southeast-2"
    assert RekognitionLabeler(client).detect_labels(IMAGE, 75, 5)


def test_clients_share_the_session_of_their_aws_environment_and_a_changed_one_gets_its_own(aws_env, monkeypatch):
    """One session per process and AWS_* environment (a new one costs ~190 ms of CPU per client): a client made
    after a credential or endpoint changed signs and sends with the new ones."""
    first = aws_session()
    assert aws_session() is first
    RekognitionLabeler(build_rekognition_client(2)).detect_labels(IMAGE, 75, 5)

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDOTHEROTHER")
    assert aws_session() is not first
    RekognitionLabeler(build_rekognition_client(2)).detect_labels(IMAGE, 75, 5)
    other = FakeRekognition()  # another endpoint: the same session, the new endpoint
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", other.url)
        RekognitionLabeler(build_rekognition_client(2)).detect_labels(IMAGE, 75, 5)
    finally:
        other.close()

    assert ["Credential=AKIDTESTTESTTEST/" in call.headers["authorization"] for call in aws_env.calls] == [True, False]
    assert "Credential=AKIDOTHEROTHER/" in aws_env.calls[1].headers["authorization"]
    [moved] = other.calls
    assert "Credential=AKIDOTHEROTHER/" in moved.headers["authorization"]


def test_the_pool_grows_with_the_workers(aws_env):
    assert build_rekognition_client(32).meta.config.max_pool_connections >= 32


def test_labels_from_the_fake_respect_min_confidence_and_max(aws_env):
    labels = RekognitionLabeler(build_rekognition_client(8)).detect_labels(IMAGE, 95, 10)

    expected = [label for label in CAT_LABELS if label["Confidence"] >= 95]
    assert [(label.name, label.confidence, label.parents) for label in labels] == [
        (label["Name"], label["Confidence"], tuple(p["Name"] for p in label["Parents"])) for label in expected
    ]


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_throttling_is_retried_until_it_passes(aws_env, code):
    aws_env.fail_next(code, 400, times=2)

    labels = RekognitionLabeler(build_rekognition_client(8)).detect_labels(IMAGE, 75, 5)

    assert [label.name for label in labels][:2] == ["Cat", "Kitten"]
    assert [call.outcome for call in aws_env.calls] == [code, code, "labels"]


def test_a_server_error_is_retried(aws_env):
    aws_env.fail_next("InternalServerError", 500, times=2)

    labels = RekognitionLabeler(build_rekognition_client(8)).detect_labels(IMAGE, 75, 5)

    assert labels[0].name == "Cat"
    assert [call.outcome for call in aws_env.calls] == ["InternalServerError", "InternalServerError", "labels"]


def test_persistent_throttling_is_busy_after_max_attempts(aws_env, fast_throttle_backoff, caplog):
    aws_env.fail_next("ThrottlingException", 400, times=MAX_ATTEMPTS + 3)

    with pytest.raises(RekognitionBusy, match="busy"):
        RekognitionLabeler(build_rekognition_client(8)).detect_labels(IMAGE, 75, 5)

    assert len(aws_env.calls) == MAX_ATTEMPTS
    assert len(fast_throttle_backoff) == MAX_ATTEMPTS - 1  # botocore's own backoff chose each wait
    (warning,) = rekognition_errors(caplog, logging.WARNING)
    assert f"after {MAX_ATTEMPTS} attempt" in warning.getMessage()
    assert "ThrottlingException" in warning.getMessage()


def test_persistent_server_errors_are_busy_after_max_attempts(aws_env):
    aws_env.fail_next("ServiceUnavailableException", 503, times=MAX_ATTEMPTS + 3)

    with pytest.raises(RekognitionBusy):
        RekognitionLabeler(build_rekognition_client(8)).detect_labels(IMAGE, 75, 5)

    assert len(aws_env.calls) == MAX_ATTEMPTS


def test_a_rejected_image_is_not_retried(aws_env):
    with pytest.raises(ImageRejected):
        RekognitionLabeler(build_rekognition_client(8)).detect_labels(b"GIF89a not what DetectLabels takes", 75, 5)

    assert [call.outcome for call in aws_env.calls] == ["InvalidImageFormatException"]


def test_a_too_small_image_is_rejected(aws_env):
    with pytest.raises(ImageRejected):
        RekognitionLabeler(build_rekognition_client(8)).detect_labels(jpeg(40, 40), 75, 5)

    assert [call.outcome for call in aws_env.calls] == ["InvalidParameterException"]


def test_invalid_credentials_are_unavailable_without_retries(aws_env, caplog):
    aws_env.fail_next("UnrecognizedClientException", 400, times=2)
    labeler = RekognitionLabeler(build_rekognition_client(8))

    for _ in range(2):
        with pytest.raises(RekognitionUnavailable):
            labeler.detect_labels(IMAGE, 75, 5)

    assert len(aws_env.calls) == 2
    assert len(rekognition_errors(caplog)) == 1


def test_missing_credentials_are_unavailable(aws_env, monkeypatch, caplog):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    labeler = RekognitionLabeler(build_rekognition_client(8))

    for _ in range(2):
        with pytest.raises(RekognitionUnavailable):
            labeler.detect_labels(IMAGE, 75, 5)

    assert aws_env.calls == []  # nothing unsigned was sent
    (error,) = rekognition_errors(caplog)
    assert "credentials" in error.getMessage()


def test_no_region_is_a_config_error_naming_aws_region(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)

    with pytest.raises(ConfigError, match="AWS_REGION"):
        build_rekognition_client(8)


def test_an_unreachable_endpoint_is_busy(aws_env, monkeypatch, caplog):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", f"http://127.0.0.1:{port}")

    with pytest.raises(RekognitionBusy, match="couldn't reach"):
        RekognitionLabeler(build_rekognition_client(8)).detect_labels(IMAGE, 75, 5)

    assert any("EndpointConnectionError" in r.getMessage() for r in rekognition_errors(caplog, logging.WARNING))
    assert aws_env.calls == []


# ---- (c) LABELBOT_REKOGNITION_TPS: the pacer in front of every attempt, as the loopback Rekognition saw it ---


def most_calls_in_one_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + 1.0) for start in ordered)


def test_workers_sharing_a_labeler_stay_within_the_tps(aws_env):
    client = build_rekognition_client(16)
    labeler = RekognitionLabeler(client, tps=20)
    calls = 41
    sent: list[float] = []  # when each call left (not when the fake's threads got round to stamping its arrival)
    client.meta.events.register("before-send.rekognition.DetectLabels", lambda **_: sent.append(time.monotonic()))

    def label(_: int) -> tuple[Label, ...]:
        return labeler.detect_labels(IMAGE, 75, 5)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(label, range(calls)))

    assert all(labels[0].name == "Cat" for labels in results)
    assert len(aws_env.calls) == calls
    times = sorted(sent)
    assert len(times) == calls
    assert times[-1] - times[0] >= (calls - 1) / 20
    assert most_calls_in_one_second(times) <= 20


def test_retries_count_against_the_tps(aws_env, fast_throttle_backoff):
    aws_env.fail_next("ThrottlingException", 400, times=3)
    client = build_rekognition_client(8)
    labeler = RekognitionLabeler(client, tps=2)
    sent: list[float] = []  # when each attempt left, registered after the pacer's own handler
    client.meta.events.register("before-send.rekognition.DetectLabels", lambda **_: sent.append(time.monotonic()))

    labels = labeler.detect_labels(IMAGE, 75, 5)

    assert labels[0].name == "Cat"
    assert [call.outcome for call in aws_env.calls] == ["ThrottlingException"] * 3 + ["labels"]
    # botocore's (scaled-down) backoff waited under 0.1 s before each retry; each attempt still waited for its slot:
    # 2 in the first window, the next 2 a window later. Measured where they leave: the fake's arrival times carry
    # its own threads' scheduling on a loaded test machine (a first arrival once stamped 52 ms late), which
    # Rekognition's own clock does not.
    assert max(fast_throttle_backoff) / 50 < 0.1
    assert len(sent) == 4 and most_calls_in_one_second(sent) == 2
    assert sent[2] - sent[0] >= 1.0


def test_the_fakes_quota_is_per_api_as_rekognitions_are(aws_env):
    """Rekognition's TPS quotas are per API: a second's DetectLabels calls leave DetectModerationLabels' untouched."""
    aws_env.tps_quota = 2
    client = aws_session().create_client("rekognition", config=BotoConfig(retries={"total_max_attempts": 1}))
    for _ in range(2):
        client.detect_labels(Image={"Bytes": IMAGE})
        client.detect_moderation_labels(Image={"Bytes": IMAGE})
        client.detect_text(Image={"Bytes": IMAGE})

    with pytest.raises(client.exceptions.ThrottlingException):
        client.detect_labels(Image={"Bytes": IMAGE})
    with pytest.raises(client.exceptions.ThrottlingException):
        client.detect_moderation_labels(Image={"Bytes": IMAGE})
    with pytest.raises(client.exceptions.ThrottlingException):
        client.detect_text(Image={"Bytes": IMAGE})
    assert dict(aws_env.throttled_by) == {"DetectLabels": 1, "DetectModerationLabels": 1, "DetectText": 1}
    assert aws_env.throttled == 3


# ---- (d) DetectText: RekognitionTextReader, and the loopback Rekognition's DetectText --------------------------

SCREENSHOT_LINES = [
    ("Deploy failed", 96.5, (0.1, 0.2, 0.52, 0.05)),
    ("exit code 1", 91.0, (0.1, 0.3, 0.44, 0.05)),
]


def raw_client():
    """A plain boto3 client on the loopback Rekognition, no retries: the service's own answers and errors."""
    return aws_session().create_client("rekognition", config=BotoConfig(retries={"total_max_attempts": 1}))


def raw_detect_text(fake: FakeRekognition, body: dict) -> tuple[int, dict]:
    """A signed DetectText request with exactly this JSON body, past botocore's validation and serializer (which
    send only the parameters the service model knows)."""
    request = AWSRequest(
        "POST",
        fake.url + "/",
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": "RekognitionService.DetectText", "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(aws_session().get_credentials(), "rekognition", "us-east-1").add_auth(request)
    sent = urllib.request.Request(fake.url + "/", data=request.body, headers=dict(request.headers), method="POST")
    return json_answer(sent)


def test_detect_text_sends_the_image_and_the_word_filter_and_maps_every_detection(stub_rekognition_client):
    box = {"Width": 0.5, "Height": 0.05, "Left": 0.1, "Top": 0.2}
    polygon = [{"X": 0.1, "Y": 0.2}, {"X": 0.6, "Y": 0.2}, {"X": 0.6, "Y": 0.25}, {"X": 0.1, "Y": 0.25}]
    with Stubber(stub_rekognition_client) as stubber:
        stubber.add_response(
            "detect_text",
            {
                "TextDetections": [
                    {"DetectedText": "Hi", "Type": "LINE", "Id": 0, "Confidence": 99, "Geometry": {"BoundingBox": box}},
                    {
                        "DetectedText": "Hi",
                        "Type": "WORD",
                        "Id": 1,
                        "ParentId": 0,
                        "Confidence": 98.5,
                        "Geometry": {"BoundingBox": box, "Polygon": polygon},
                    },
                ],
                "TextModelVersion": "3.0",
            },
            expected_params={"Image": {"Bytes": IMAGE}, "Filters": {"WordFilter": {"MinConfidence": 85.0}}},
        )

        found = RekognitionTextReader(stub_rekognition_client).detect_text(IMAGE, 85.0)

        stubber.assert_no_pending_responses()
    assert found == (
        TextDetection("LINE", "Hi", 99.0, 0.1, 0.2, 0.5, 0.05, id=0, parent_id=None),
        TextDetection("WORD", "Hi", 98.5, 0.1, 0.2, 0.5, 0.05, id=1, parent_id=0),
    )
    assert isinstance(found[0].confidence, float)


def test_lines_then_words_come_back_with_their_boxes_and_parent_ids(aws_env):
    aws_env.text_lines = SCREENSHOT_LINES

    found = RekognitionTextReader(build_rekognition_client(4)).detect_text(IMAGE, 80.0)

    assert [(d.kind, d.text, d.id, d.parent_id) for d in found] == [
        ("LINE", "Deploy failed", 0, None),
        ("LINE", "exit code 1", 1, None),
        ("WORD", "Deploy", 2, 0),
        ("WORD", "failed", 3, 0),
        ("WORD", "exit", 4, 1),
        ("WORD", "code", 5, 1),
        ("WORD", "1", 6, 1),
    ]
    line, word = found[0], found[3]
    assert (line.left, line.top, line.width, line.height, line.confidence) == (0.1, 0.2, 0.52, 0.05, 96.5)
    # "failed" is characters 7-12 of the 13 in "Deploy failed": that slice of the line's box, as tall as the line
    assert (word.left, word.width) == (pytest.approx(0.1 + 0.52 * 7 / 13), pytest.approx(0.52 * 6 / 13))
    assert (word.top, word.height, word.confidence) == (0.2, 0.05, 96.5)
    (call,) = aws_env.calls
    assert (call.operation, call.outcome, call.min_confidence) == ("DetectText", "labels", 80.0)


def test_every_detection_has_a_box_and_a_four_point_polygon(aws_env):
    aws_env.text_lines = SCREENSHOT_LINES[:1]

    answer = raw_client().detect_text(Image={"Bytes": IMAGE})

    assert answer["TextModelVersion"] == "3.0"
    for detection in answer["TextDetections"]:
        assert set(detection) >= {"DetectedText", "Type", "Id", "Confidence", "Geometry"}
        box = detection["Geometry"]["BoundingBox"]
        corners = [(point["X"], point["Y"]) for point in detection["Geometry"]["Polygon"]]
        right, bottom = box["Left"] + box["Width"], box["Top"] + box["Height"]
        assert corners == [(box["Left"], box["Top"]), (right, box["Top"]), (right, bottom), (box["Left"], bottom)]


def test_the_word_filters_min_confidence_is_sent_and_applied_80_by_default(aws_env):
    aws_env.text_lines = [("sharp text", 90.0, (0.1, 0.1, 0.5, 0.1)), ("blurry text", 70.0, (0.1, 0.5, 0.5, 0.1))]
    reader = RekognitionTextReader(build_rekognition_client(4))

    assert {d.text for d in reader.detect_text(IMAGE, 60.0) if d.kind == "LINE"} == {"sharp text", "blurry text"}
    assert [d.text for d in reader.detect_text(IMAGE, 75.0)] == ["sharp text", "sharp", "text"]
    unfiltered = raw_client().detect_text(Image={"Bytes": IMAGE})  # no Filters: Rekognition's default, 80
    assert [d["DetectedText"] for d in unfiltered["TextDetections"]] == ["sharp text", "sharp", "text"]
    assert [call.min_confidence for call in aws_env.calls_to("DetectText")] == [60.0, 75.0, None]
    assert aws_env.calls[1].filters == {"WordFilter": {"MinConfidence": 75.0}}


def test_text_for_an_image_is_its_own_and_no_text_is_an_empty_tuple(aws_env):
    other = jpeg(200, 150)
    aws_env.text_for[other] = SCREENSHOT_LINES[:1]
    reader = RekognitionTextReader(build_rekognition_client(4))

    assert reader.detect_text(IMAGE, 80.0) == ()
    assert [d.text for d in reader.detect_text(other, 80.0) if d.kind == "LINE"] == ["Deploy failed"]
    assert raw_client().detect_text(Image={"Bytes": IMAGE})["TextDetections"] == []


def test_at_most_100_words_come_back_and_a_line_with_none_left_goes(aws_env):
    aws_env.text_lines = [(f"w{n}a w{n}b w{n}c w{n}d", 95.0, (0.0, n / 40, 0.9, 0.02)) for n in range(30)]  # 120 words

    found = RekognitionTextReader(build_rekognition_client(4)).detect_text(IMAGE, 80.0)

    words = [d for d in found if d.kind == "WORD"]
    lines = [d for d in found if d.kind == "LINE"]
    assert len(words) == 100
    assert len(lines) == 25 and lines[-1].text == "w24a w24b w24c w24d"
    assert [d.id for d in found] == list(range(125))
    assert words[-1].text == "w24d" and words[-1].parent_id == 24


def test_an_image_outside_the_contract_is_rejected_by_detect_text_too(aws_env):
    reader = RekognitionTextReader(build_rekognition_client(4))
    too_large = b"\xff\xd8\xff" + bytes(5 * 1024 * 1024)

    for image in (b"GIF89a not a JPEG or PNG", b"\xff\xd8\xff not really a JPEG", jpeg(40, 40), too_large):
        with pytest.raises(ImageRejected, match="couldn't read this image"):
            reader.detect_text(image, 80.0)

    assert [call.outcome for call in aws_env.calls_to("DetectText")] == [
        "InvalidImageFormatException",
        "InvalidImageFormatException",
        "InvalidParameterException",
        "ImageTooLargeException",
    ]


def test_persistent_throttling_is_busy_after_retries_paced_by_detect_texts_own_limiter(aws_env, fast_throttle_backoff):
    aws_env.fail_next("ThrottlingException", 400, times=MAX_ATTEMPTS + 2, operation="DetectText")
    client = build_rekognition_client(4)
    text_pace, labels_pace = CountingLimiter(50), CountingLimiter(50)
    reader = RekognitionTextReader(client, limiter=text_pace)
    labeler = RekognitionLabeler(client, limiter=labels_pace)

    with pytest.raises(RekognitionBusy, match="I couldn't read this image right now"):
        reader.detect_text(IMAGE, 80.0)
    assert labeler.detect_labels(IMAGE, 75, 5)[0].name == "Cat"  # the 2 throttles still queued are DetectText's

    assert [call.outcome for call in aws_env.calls_to("DetectText")] == ["ThrottlingException"] * MAX_ATTEMPTS
    assert text_pace.acquired == MAX_ATTEMPTS  # every attempt, the retries too, waited on DetectText's pacer only
    assert labels_pace.acquired == 1
    assert [call.outcome for call in aws_env.calls_to("DetectLabels")] == ["labels"]


def test_access_denied_is_unavailable_naming_the_detect_text_permission(aws_env, caplog):
    aws_env.fail_next("AccessDeniedException", 400, operation="DetectText")
    client = build_rekognition_client(4)

    with pytest.raises(RekognitionUnavailable, match="AWS access isn't set up"):
        RekognitionTextReader(client).detect_text(IMAGE, 80.0)
    assert RekognitionLabeler(client).detect_labels(IMAGE, 75, 5)[0].name == "Cat"

    (error,) = rekognition_errors(caplog)
    assert "AccessDeniedException" in error.getMessage()
    assert "rekognition:DetectText" in error.getMessage()
    assert len(aws_env.calls_to("DetectText")) == 1  # not retried


def test_the_fake_refuses_a_detect_text_parameter_real_rekognition_would(aws_env):
    image = {"Bytes": base64.b64encode(IMAGE).decode()}
    for body in (
        {"Image": image, "MaxLabels": 5},
        {"Image": image, "Filters": {"WordFilter": {"MinConfidence": 80, "MaxWords": 3}}},
        {"Image": image, "Filters": {"WordFilter": {"MinConfidence": "high"}}},
        {"Image": image, "Filters": {"RegionsOfInterest": [{"BoundingBox": {"Width": 1}}] * 11}},
    ):
        status, answer = raw_detect_text(aws_env, body)
        assert (status, answer["__type"]) == (400, "InvalidParameterException"), body
    assert raw_detect_text(aws_env, {"Image": image})[0] == 200  # the same request, valid, is answered
    client = raw_client()
    with pytest.raises(client.exceptions.InvalidParameterException):  # botocore checks no maximum: the service does
        client.detect_text(Image={"Bytes": IMAGE}, Filters={"WordFilter": {"MinConfidence": 100.5}})
    for refused_by_botocore in ({"WordFilter": {"MinConfidence": -1}}, {"WordFilter": {"Confidence": 80}}):
        with pytest.raises(ParamValidationError):
            client.detect_text(Image={"Bytes": IMAGE}, Filters=refused_by_botocore)
    assert [call.outcome for call in aws_env.calls_to("DetectText")] == ["InvalidParameterException"] * 4 + [
        "labels",
        "InvalidParameterException",
    ]
