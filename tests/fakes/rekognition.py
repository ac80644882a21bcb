"""A loopback Rekognition that speaks the JSON 1.1 protocol boto3 uses and enforces the image contract."""

from __future__ import annotations

import base64
import collections
import dataclasses
import io
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from tests.fakes.http_server import LoopbackServer, Request, Response
from tests.fakes.rekognition_contract import ContractViolation, check_rekognition_image

CAT_LABELS = [
    {"Name": "Cat", "Confidence": 99.21, "Parents": [{"Name": "Animal"}, {"Name": "Pet"}]},
    {"Name": "Kitten", "Confidence": 96.43, "Parents": [{"Name": "Cat"}]},
    {"Name": "Pet", "Confidence": 95.0, "Parents": [{"Name": "Animal"}]},
    {"Name": "Animal", "Confidence": 94.8, "Parents": []},
    {"Name": "Whiskers", "Confidence": 80.12, "Parents": [{"Name": "Cat"}]},
    {"Name": "Carpet", "Confidence": 61.7, "Parents": []},
]


OPERATIONS = ("DetectLabels", "DetectModerationLabels")


@dataclass
class DetectCall:
    image: bytes
    format: str | None
    size: tuple[int, int] | None
    min_confidence: float | None
    max_labels: int | None
    outcome: str  # "labels" or the error code returned
    headers: dict = field(default_factory=dict)  # the request's headers, lower-case names (e.g. authorization)
    settings: dict | None = None  # the request's Settings (GeneralLabels filters)
    received_at: float = 0.0  # time.monotonic() when the request arrived, before any injected delay
    operation: str = "DetectLabels"


class FakeRekognition:
    def __init__(self) -> None:
        self.labels = list(CAT_LABELS)
        # DetectModerationLabels' answer for every image (ModerationLabels items), and for particular images.
        self.moderation_labels: list[dict] = []
        self.moderation_for: dict[bytes, list[dict]] = {}
        self.calls: list[DetectCall] = []
        self.delay_seconds = 0.0
        self.gate: threading.Event | None = None  # when set by a test, every call waits until it opens
        self.at_gate = 0  # calls waiting at the gate now
        self.image_delays: dict[bytes, float] = {}  # a call with exactly this image answers that many seconds late
        # Benchmarks: a latency drawn per call from this (low, high) range in seconds (seeded), and an account's
        # transactions-per-second quota: above `tps_quota` calls in any one second, ThrottlingException. Off: None.
        self.delay_range: tuple[float, float] | None = None
        self.random = random.Random(0)
        # The quota is per API, as Rekognition's are: each operation has tps_quota calls a second of its own.
        self.tps_quota: int | None = None
        self.throttled = 0  # calls answered ThrottlingException by the quota, all operations
        self.throttled_by: collections.Counter[str] = collections.Counter()  # the same, by operation
        # Each operation's accepted calls' times, the last second
        self._recent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        # Benchmarks: DetectModerationLabels' answer for an image, decided from its bytes (None: as above)
        self.moderation_by: Callable[[bytes], list[dict] | None] | None = None
        # What the next calls get instead of an answer: ("error", status, code), ("drop",) or ("slow", seconds)
        self._forced: collections.deque[tuple] = collections.deque()
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._route)
        self.url = self.server.url

    def fail_next(self, code: str, status: int = 400, times: int = 1, operation: str | None = None) -> None:
        """The next `times` calls (of operation only, if given) answer with this error code."""
        self._force(operation, [("error", status, code)] * times)

    def drop_next(self, times: int = 1, operation: str | None = None) -> None:
        """The next `times` calls get no answer: the connection is closed once the request is read."""
        self._force(operation, [("drop",)] * times)

    def slow_next(self, seconds: float, times: int = 1, operation: str | None = None) -> None:
        """The next `times` calls answer only after `seconds` (a client that gave up meanwhile is no error here:
        the answer is written as a stream, whose broken pipe the loopback server ignores)."""
        self._force(operation, [("slow", seconds)] * times)

    def calls_to(self, operation: str) -> list[DetectCall]:
        return [call for call in self.calls if call.operation == operation]

    def _force(self, operation: str | None, outcomes: list[tuple]) -> None:
        with self._lock:
            self._forced.extend((operation, *outcome) for outcome in outcomes)

    def _take_forced(self, operation: str) -> tuple | None:
        """The first forced outcome meant for this operation (or any), taken off the queue."""
        for index, (meant_for, *outcome) in enumerate(self._forced):
            if meant_for in (None, operation):
                del self._forced[index]
                return tuple(outcome)
        return None

    def received_image(self, index: int = -1) -> Image.Image:
        return Image.open(io.BytesIO(self.calls[index].image))

    def close(self) -> None:
        self.server.close()

    def _route(self, request: Request) -> Response | None:
        received_at = time.monotonic()
        operation = str(request.headers.get("x-amz-target", "")).removeprefix("RekognitionService.")
        if operation not in OPERATIONS:
            return _error(400, "UnknownOperationException", f"only {', '.join(OPERATIONS)} are faked")
        if "authorization" not in request.headers:
            return _error(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
        if self.tps_quota is not None and not self._within_quota(operation):
            return _error(400, "ThrottlingException", "Rate exceeded")
        if self.delay_range is not None:
            with self._lock:
                delay = self.random.uniform(*self.delay_range)
            time.sleep(delay)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if self.gate is not None:
            with self._lock:
                self.at_gate += 1
            self.gate.wait(30)
            with self._lock:
                self.at_gate -= 1
        params = request.json()
        image = base64.b64decode(params.get("Image", {}).get("Bytes", ""))
        if image in self.image_delays:
            time.sleep(self.image_delays[image])
        call = DetectCall(
            image,
            None,
            None,
            params.get("MinConfidence"),
            params.get("MaxLabels"),
            "labels",
            headers=dict(request.headers),
            settings=params.get("Settings"),
            received_at=received_at,
            operation=operation,
        )
        with self._lock:
            self.calls.append(call)
            forced = self._take_forced(operation)
        if forced and forced[0] == "drop":
            call.outcome = "dropped"
            return None
        if forced and forced[0] == "error":
            call.outcome = forced[2]
            return _error(forced[1], forced[2], "forced by the test")
        if forced and forced[0] == "slow":
            call.outcome = "slow"  # whatever the answer, which the client has likely given up on
            time.sleep(forced[1])
            response = self._answer(dataclasses.replace(call), params, image)
            response.headers["Content-Length"] = str(len(response.body))
            response.stream = iter((response.body,))
            return response
        return self._answer(call, params, image)

    def _within_quota(self, operation: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = self._recent[operation]
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= self.tps_quota:
                self.throttled += 1
                self.throttled_by[operation] += 1
                return False
            recent.append(now)
            return True

    def _answer(self, call: DetectCall, params: dict, image: bytes) -> Response:
        try:
            call.format, *size = check_rekognition_image(image)
            call.size = tuple(size)
        except ContractViolation as exc:
            call.outcome = exc.code
            return _error(400, exc.code, str(exc))
        if call.operation == "DetectModerationLabels":
            return self._moderation_answer(params, image)
        min_confidence = params.get("MinConfidence", 55.0)
        labels = [label for label in self.labels if label["Confidence"] >= min_confidence]
        general = params.get("Settings", {}).get("GeneralLabels", {})
        if general.get("LabelInclusionFilters"):
            labels = [label for label in labels if label["Name"] in general["LabelInclusionFilters"]]
        labels = [label for label in labels if label["Name"] not in general.get("LabelExclusionFilters", [])]
        labels = labels[: params.get("MaxLabels", 1000)]
        return Response(
            200, {"Labels": labels, "LabelModelVersion": "3.0"}, {"Content-Type": "application/x-amz-json-1.1"}
        )

    def _moderation_answer(self, params: dict, image: bytes) -> Response:
        min_confidence = params.get("MinConfidence", 50.0)  # Rekognition's default
        found = self.moderation_for.get(image, self.moderation_labels)
        if self.moderation_by is not None:
            found = self.moderation_by(image) or found
        labels = [label for label in found if label["Confidence"] >= min_confidence]
        return Response(
            200,
            {"ModerationLabels": labels, "ModerationModelVersion": "7.0"},
            {"Content-Type": "application/x-amz-json-1.1"},
        )


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        status,
        {"__type": code, "Message": message},
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
    )
