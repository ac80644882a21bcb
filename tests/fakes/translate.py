"""A loopback Amazon Translate that speaks TranslateText's JSON 1.1 protocol (what botocore sends: its service model
lists json before smithy-rpc-v2-cbor, and botocore prefers json) and enforces its request contract: Text 1 to
10,000 bytes of UTF-8, the source and target language codes among those Translate supports, the required fields, no
member the model doesn't define. It knows a small dictionary of translations (each test adds its own), can be told to
throttle, fail or be slow, and records every call."""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

from tests.fakes.http_server import LoopbackServer, Request, Response
from tests.fakes.rekognition import _error  # the JSON 1.1 protocol's error answer

TARGET_PREFIX = "AWSShineFrontendService_20170701."
OPERATION = "TranslateText"
MAX_TEXT_BYTES = 10_000  # TranslateText's Text: "a maximum of 10,000 bytes" (BoundedLengthString, UTF-8)
# https://docs.aws.amazon.com/translate/latest/dg/what-is-languages.html (the source may also be "auto")
_DOCUMENTED_CODES = (
    "af sq am ar hy az bn bs bg ca zh zh-TW hr cs da fa-AF nl en et fa tl fi fr fr-CA ka de el gu ht ha he hi hu is id "
    "ga it ja kn kk ko lv lt mk ms ml mt mr mn no ps pl pt pt-PT pa ro ru sr si sk sl so es es-MX sw sv ta te th tr uk "
    "ur uz vi cy"
)
LANGUAGE_CODES = frozenset(_DOCUMENTED_CODES.split())
REQUEST_MEMBERS = ("Text", "TerminologyNames", "SourceLanguageCode", "TargetLanguageCode", "Settings")
REQUIRED = ("Text", "SourceLanguageCode", "TargetLanguageCode")
# (source, target) -> {text: translation}; what a test doesn't add is answered "<target>:<text>" (say, "ja:Gizmo").
KNOWN = {("en", "ja"): {"Widget": "ウィジェット", "Space Heater": "電気ストーブ"}}


@dataclass
class TranslateCall:
    text: str
    source: str
    target: str
    outcome: str  # "ok", or the error code answered
    headers: dict = field(default_factory=dict)  # lower-case names (authorization, x-amz-target...)
    received_at: float = 0.0  # time.monotonic()


class FakeTranslate:
    def __init__(self) -> None:
        self.known: dict[tuple[str, str], dict[str, str]] = {pair: dict(words) for pair, words in KNOWN.items()}
        self.calls: list[TranslateCall] = []
        # What the next calls get instead of an answer: ("error", status, code) or ("slow", seconds)
        self._forced: collections.deque[tuple] = collections.deque()
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._route)
        self.url = self.server.url

    def throttle_next(self, times: int = 1) -> None:
        """The next `times` calls answer 400 ThrottlingException (what botocore's standard mode retries)."""
        self._force([("error", 400, "ThrottlingException")] * times)

    def fail_next(self, times: int = 1, code: str = "InternalServerException", status: int = 500) -> None:
        self._force([("error", status, code)] * times)

    def slow_next(self, seconds: float, times: int = 1) -> None:
        """The next `times` calls answer only after `seconds` (a client that gave up meanwhile is no error here)."""
        self._force([("slow", seconds)] * times)

    def texts(self) -> list[str]:
        """The Text of every call received, in order (throttled and failed ones too)."""
        return [call.text for call in self.calls]

    def close(self) -> None:
        self.server.close()

    def _force(self, outcomes: list[tuple]) -> None:
        with self._lock:
            self._forced.extend(outcomes)

    def _route(self, request: Request) -> Response:
        received_at = time.monotonic()
        target = str(request.headers.get("x-amz-target", ""))
        if request.method != "POST" or target != TARGET_PREFIX + OPERATION:
            return _error(400, "UnknownOperationException", f"only {TARGET_PREFIX + OPERATION} is faked")
        if not str(request.headers.get("content-type", "")).startswith("application/x-amz-json-1.1"):
            return _error(400, "SerializationException", "expected Content-Type application/x-amz-json-1.1")
        if "authorization" not in request.headers:
            return _error(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
        try:
            params = request.json()
        except ValueError:
            return _error(400, "SerializationException", "the body is not JSON")
        call = TranslateCall(
            text=params.get("Text") if isinstance(params.get("Text"), str) else repr(params.get("Text")),
            source=str(params.get("SourceLanguageCode")),
            target=str(params.get("TargetLanguageCode")),
            outcome="ok",
            headers=dict(request.headers),
            received_at=received_at,
        )
        with self._lock:
            self.calls.append(call)
            forced = self._forced.popleft() if self._forced else None
        if forced and forced[0] == "error":
            call.outcome = forced[2]
            return _error(forced[1], forced[2], "forced by the test")
        problem = invalid_request(params)
        if problem is not None:
            call.outcome = problem[0]
            return _error(400, *problem)
        if forced and forced[0] == "slow":
            call.outcome = "slow"
            time.sleep(forced[1])
        with self._lock:
            translated = self.known.get((call.source, call.target), {}).get(call.text, f"{call.target}:{call.text}")
        body = {"TranslatedText": translated, "SourceLanguageCode": call.source, "TargetLanguageCode": call.target}
        return Response(200, body, {"Content-Type": "application/x-amz-json-1.1"})


def invalid_request(params: dict) -> tuple[str, str] | None:
    """(error code, message) for a TranslateText request Amazon Translate refuses, or None."""
    unknown = sorted(set(params) - set(REQUEST_MEMBERS))
    if unknown:
        return (
            "SerializationException",
            f"unknown member {unknown[0]}: TranslateText takes {', '.join(REQUEST_MEMBERS)}",
        )
    for name in REQUIRED:
        if not isinstance(params.get(name), str):
            return "ValidationException", f"{name} is required (a string)"
    size = len(params["Text"].encode("utf-8"))
    if size == 0:
        return "ValidationException", "Text must be at least 1 character"
    if size > MAX_TEXT_BYTES:
        return "TextSizeLimitExceededException", f"Text is {size} bytes of UTF-8, over {MAX_TEXT_BYTES}"
    source, target = params["SourceLanguageCode"], params["TargetLanguageCode"]
    if source != "auto" and source not in LANGUAGE_CODES:
        return "UnsupportedLanguagePairException", f"unsupported source language code {source!r}"
    if target not in LANGUAGE_CODES:
        return "UnsupportedLanguagePairException", f"unsupported target language code {target!r}"
    return None
