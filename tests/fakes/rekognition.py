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


OPERATIONS = ("DetectLabels", "DetectModerationLabels", "DetectText")

# DetectText: what an image says, a line at a time: (text, confidence, (left, top, width, height) as ratios of the
# image's width and height). Each line's space-separated words are WORDs sharing its confidence, each a slice of its
# box proportional to the word's length.
TextLine = tuple[str, float, tuple[float, float, float, float]]
TEXT_DEFAULT_MIN_CONFIDENCE = 80.0  # DetectText's WordFilter.MinConfidence when the request has none
TEXT_MAX_WORDS = 100  # DetectText returns at most 100 words
TEXT_MAX_REGIONS = 10


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
    filters: dict | None = None  # DetectText's Filters (min_confidence is its WordFilter.MinConfidence)
    received_at: float = 0.0  # time.monotonic() when the request arrived, before any injected delay
    operation: str = "DetectLabels"
    answered_at: float = 0.0  # time.monotonic() when its answer was ready (benchmarks' timelines)


class FakeRekognition:
    def __init__(self) -> None:
        self.labels = list(CAT_LABELS)
        # DetectModerationLabels' answer for every image (ModerationLabels items), and for particular images.
        self.moderation_labels: list[dict] = []
        self.moderation_for: dict[bytes, list[dict]] = {}
        # DetectText's lines for every image (none: no text), and for particular images.
        self.text_lines: list[TextLine] = []
        self.text_for: dict[bytes, list[TextLine]] = {}
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
        self.throttled_at: list[tuple[str, float]] = []  # (operation, time.monotonic()) of each of them
        # Each operation's accepted calls' times, the last second
        self._recent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        # Benchmarks: DetectModerationLabels' answer for an image, decided from its bytes (None: as above)
        self.moderation_by: Callable[[bytes], list[dict] | None] | None = None
        # Benchmarks: DetectText's lines for an image, decided from its bytes (None: as above)
        self.text_by: Callable[[bytes], list[TextLine] | None] | None = None
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
        image_param = params.get("Image")
        image = base64.b64decode(image_param.get("Bytes", "") if isinstance(image_param, dict) else "")
        if image in self.image_delays:
            time.sleep(self.image_delays[image])
        filters = params.get("Filters") if operation == "DetectText" else None
        call = DetectCall(
            image,
            None,
            None,
            _word_filter(filters).get("MinConfidence") if operation == "DetectText" else params.get("MinConfidence"),
            params.get("MaxLabels"),
            "labels",
            headers=dict(request.headers),
            settings=params.get("Settings"),
            filters=filters,
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
        response = self._answer(call, params, image)
        call.answered_at = time.monotonic()
        return response

    def _within_quota(self, operation: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = self._recent[operation]
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= self.tps_quota:
                self.throttled += 1
                self.throttled_by[operation] += 1
                self.throttled_at.append((operation, now))
                return False
            recent.append(now)
            return True

    def _answer(self, call: DetectCall, params: dict, image: bytes) -> Response:
        if call.operation == "DetectText":  # the request's parameters are checked before its image
            problem = _invalid_text_request(params)
            if problem:
                call.outcome = "InvalidParameterException"
                return _error(400, "InvalidParameterException", problem)
        try:
            call.format, *size = check_rekognition_image(image)
            call.size = tuple(size)
        except ContractViolation as exc:
            call.outcome = exc.code
            return _error(400, exc.code, str(exc))
        if call.operation == "DetectModerationLabels":
            return self._moderation_answer(params, image)
        if call.operation == "DetectText":
            return self._text_answer(params, image)
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

    def _text_answer(self, params: dict, image: bytes) -> Response:
        lines = self.text_for.get(image, self.text_lines)
        if self.text_by is not None:
            lines = self.text_by(image) or lines
        return Response(
            200,
            {"TextDetections": text_detections(lines, params.get("Filters")), "TextModelVersion": "3.0"},
            {"Content-Type": "application/x-amz-json-1.1"},
        )


def text_detections(lines: list[TextLine], filters: dict | None = None) -> list[dict]:
    """DetectText's TextDetections for these lines under the request's Filters: the WORDs the word filter keeps (its
    MinConfidence, default 80, its minimum box height and width, and within a region of interest if any are given),
    the first 100 of them, and the LINEs with a word left; all the LINEs first (Ids 0..n-1), then the WORDs, each
    with its LINE's Id as ParentId."""
    word_filter = _word_filter(filters)
    min_confidence = word_filter.get("MinConfidence", TEXT_DEFAULT_MIN_CONFIDENCE)
    regions = [_region_box(region) for region in (filters or {}).get("RegionsOfInterest") or []]
    kept: list[tuple[TextLine, list[tuple[str, tuple[float, float, float, float]]]]] = []
    words_left = TEXT_MAX_WORDS
    for line in lines:
        text, confidence, box = line
        words = [
            (word, word_box)
            for word, word_box in _words(text, box)
            if confidence >= min_confidence
            and word_box[3] >= word_filter.get("MinBoundingBoxHeight", 0)
            and word_box[2] >= word_filter.get("MinBoundingBoxWidth", 0)
            and (not regions or any(_mostly_inside(word_box, region) for region in regions))
        ][:words_left]
        if words:
            kept.append((line, words))
            words_left -= len(words)
    detections = [
        _detection(line_id, "LINE", " ".join(text.split()), confidence, box)
        for line_id, ((text, confidence, box), _) in enumerate(kept)
    ]
    for line_id, ((_, confidence, _), words) in enumerate(kept):
        for word, word_box in words:
            detections.append(_detection(len(detections), "WORD", word, confidence, word_box, parent_id=line_id))
    return detections


def _words(text: str, box: tuple[float, float, float, float]) -> list[tuple[str, tuple[float, float, float, float]]]:
    """A line's words, each with its slice of the line's box: as wide as its share of the line's characters."""
    left, top, width, height = box
    words = text.split()
    characters = len(" ".join(words)) or 1
    sliced, offset = [], 0
    for word in words:
        sliced.append((word, (left + width * offset / characters, top, width * len(word) / characters, height)))
        offset += len(word) + 1
    return sliced


def _detection(
    detection_id: int,
    kind: str,
    text: str,
    confidence: float,
    box: tuple[float, float, float, float],
    parent_id: int | None = None,
) -> dict:
    left, top, width, height = box
    detection = {"DetectedText": text, "Type": kind, "Id": detection_id}
    if parent_id is not None:
        detection["ParentId"] = parent_id
    detection["Confidence"] = confidence
    detection["Geometry"] = {
        "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
        "Polygon": [
            {"X": left, "Y": top},
            {"X": left + width, "Y": top},
            {"X": left + width, "Y": top + height},
            {"X": left, "Y": top + height},
        ],
    }
    return detection


def _word_filter(filters) -> dict:
    word_filter = filters.get("WordFilter") if isinstance(filters, dict) else None
    return word_filter if isinstance(word_filter, dict) else {}


def _region_box(region: dict) -> tuple[float, float, float, float]:
    """A region of interest as (left, top, width, height): its BoundingBox, or the box around its Polygon."""
    if "BoundingBox" in region:
        box = region["BoundingBox"]
        return box.get("Left", 0.0), box.get("Top", 0.0), box.get("Width", 0.0), box.get("Height", 0.0)
    xs, ys = [point.get("X", 0.0) for point in region["Polygon"]], [point.get("Y", 0.0) for point in region["Polygon"]]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def _mostly_inside(box: tuple[float, float, float, float], region: tuple[float, float, float, float]) -> bool:
    """Rekognition keeps a word in a region of interest when more than half of its box is inside it."""
    left, top, width, height = box
    overlap_width = min(left + width, region[0] + region[2]) - max(left, region[0])
    overlap_height = min(top + height, region[1] + region[3]) - max(top, region[1])
    return overlap_width > 0 and overlap_height > 0 and overlap_width * overlap_height > width * height / 2


# DetectText's request as Rekognition's service model defines it: each structure's member names, each number's range.
_TEXT_REQUEST_MEMBERS = {
    "": ("Image", "Filters"),
    "Image": ("Bytes", "S3Object"),
    "Filters": ("WordFilter", "RegionsOfInterest"),
    "Filters.WordFilter": ("MinConfidence", "MinBoundingBoxHeight", "MinBoundingBoxWidth"),
}
_TEXT_REQUEST_RANGES = {
    "MinConfidence": (0.0, 100.0),
    "MinBoundingBoxHeight": (0.0, 1.0),
    "MinBoundingBoxWidth": (0.0, 1.0),
}
_REGION_MEMBERS = ("BoundingBox", "Polygon")
_BOX_MEMBERS = ("Width", "Height", "Left", "Top")


def _invalid_text_request(params: dict) -> str | None:
    """What makes this DetectText request invalid (InvalidParameterException), or None. Boto3 refuses most of these
    itself (unknown names, a number below its minimum); above its maximum, and raw requests, reach the service."""
    if "Image" not in params:
        return "Image is required"
    for where, members in _TEXT_REQUEST_MEMBERS.items():
        value = params
        for key in where.split(".") if where else ():
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            continue
        if not isinstance(value, dict):
            return f"{where} must be a structure"
        unknown = sorted(set(value) - set(members))
        if unknown:
            name = f"{where}.{unknown[0]}" if where else unknown[0]
            return f"unknown parameter {name}: must be one of {', '.join(members)}"
    for name, (low, high) in _TEXT_REQUEST_RANGES.items():
        value = _word_filter(params.get("Filters")).get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            return f"Filters.WordFilter.{name} must be a number from {low:g} to {high:g}, not {value!r}"
    regions = (params.get("Filters") or {}).get("RegionsOfInterest")
    if regions is not None:
        if not isinstance(regions, list) or len(regions) > TEXT_MAX_REGIONS:
            return f"Filters.RegionsOfInterest must be a list of at most {TEXT_MAX_REGIONS} regions"
        for region in regions:
            if not isinstance(region, dict) or not region or set(region) - set(_REGION_MEMBERS):
                return f"a region of interest has a BoundingBox or a Polygon, and nothing else: {region!r}"
            box = region.get("BoundingBox", {})
            points = region.get("Polygon", [])
            if not isinstance(box, dict) or set(box) - set(_BOX_MEMBERS) or not isinstance(points, list):
                return f"a region of interest's BoundingBox is Width, Height, Left and Top: {region!r}"
            if any(not isinstance(point, dict) or set(point) - {"X", "Y"} for point in points):
                return f"a region of interest's Polygon is points of X and Y: {region!r}"
    return None


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        status,
        {"__type": code, "Message": message},
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
    )
