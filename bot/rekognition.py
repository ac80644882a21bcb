"""The only code that talks to Amazon Rekognition: client configuration, retries, each API's own pace, errors ->
domain errors."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.config import ConfigError
from bot.i18n import N_, Sentence
from bot.metrics import Metrics
from bot.moderation import ModerationLabel
from bot.rate_limit import RateLimiter
from bot.render import Instance, Label
from bot.screen_text import TextDetection

if TYPE_CHECKING:  # botocore is imported where a client is made: the web process (gunicorn's) never makes one
    import botocore.loaders
    import botocore.session
    from botocore.config import Config as BotoConfig

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # calls per image, the first included; botocore "standard" mode backs off with jitter between
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0  # per socket read; a slow answer is a timeout, retried like a dropped connection
# Worst case for one image: MAX_ATTEMPTS * (connect + read timeout) + the backoffs (at most 1+2+4+8 s when
# throttled, under 1 s otherwise): about 3 minutes with the defaults. botocore's retry quota (shared by the
# client's calls) also stops retrying early when most calls fail, so a long outage fails fast instead.
DEFAULT_TPS = 5.0  # LABELBOT_REKOGNITION_TPS: the account's DetectLabels quota (5 is the lowest AWS default)
IMAGE_ERRORS = frozenset(
    {"InvalidImageFormatException", "ImageTooLargeException", "InvalidParameterException", "ValidationException"}
)
# What botocore's standard retry mode retries as throttling: counted as "throttled" in the metrics.
THROTTLING_ERRORS = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException", "Throttling"}
)
ACCESS_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "MissingAuthenticationTokenException",
    }
)


class RekognitionError(Exception):
    """A Rekognition API (DetectLabels, DetectModerationLabels, DetectText) gave no answer; str() is a short,
    user-facing reason."""


class ImageRejected(RekognitionError):
    pass


class RekognitionUnavailable(RekognitionError):
    """Credentials or permissions are wrong: nothing will work until an admin fixes them."""


class RekognitionBusy(RekognitionError):
    """Throttled, 5xx or unreachable even after retries."""


class CallLimitReached(RekognitionError):
    """The month's Rekognition calls reached LABELBOT_MONTHLY_CALL_LIMIT: this one was not made."""


@functools.cache
def _botocore_data() -> botocore.loaders.Loader:
    """botocore's data files (endpoints.json, each service's model), read once per process and shared by every
    session: a new session reads them all again."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def new_botocore_session() -> botocore.session.Session:
    """A botocore session of its own (credentials, region, handlers) that reads botocore's data through the
    process's one loader."""
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", _botocore_data())
    return session


_sessions: dict[tuple, botocore.session.Session] = {}
_sessions_lock = threading.Lock()  # botocore sessions are not thread-safe: one client made at a time


def aws_session() -> botocore.session.Session:
    """The AWS SDKs' standard chain (credentials, config files, AWS_ENDPOINT_URL_*), with AWS_REGION honoured as
    the other AWS SDKs and Lambda do (botocore alone reads only AWS_DEFAULT_REGION). A missing region is a
    start-up error, not a failure per image.

    botocore's own session, not boto3's: labelbot makes clients only (no resources, no S3 transfers), and boto3's
    import (s3transfer and the resource machinery) cost 80 ms of CPU in each of the bot's processes at start.

    One session per process and AWS_* environment, shared by every client (Rekognition, DynamoDB, Lambda), and
    botocore's data read once: a new session reads the endpoint and service data again and registers its ~200
    handlers, ~190 ms of CPU per client, which a Lambda cold start paid three times. Other credentials, region or
    config files (AWS_*) get a session of their own; the endpoints (AWS_ENDPOINT_URL_*) are read at each client.
    """
    key = tuple(  # the endpoints (AWS_ENDPOINT_URL_*) are read afresh for each client
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if name.startswith("AWS_") and not name.startswith("AWS_ENDPOINT_URL")
        )
    )
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = new_botocore_session()
            if os.environ.get("AWS_REGION"):
                session.set_config_variable("region", os.environ["AWS_REGION"])
            if len(_sessions) >= 8:  # environments a process no longer uses (tests)
                _sessions.clear()
            _sessions[key] = session
    if not session.get_config_variable("region"):
        raise ConfigError(
            "AWS_REGION is not set: name the AWS region whose Rekognition to use, e.g. AWS_REGION=us-east-1"
        )
    return session


def check_aws_region() -> None:
    """At start-up: a ConfigError unless the region is known. AWS_REGION set answers without botocore (the web
    process never imports it); otherwise botocore looks further (AWS_DEFAULT_REGION, the config files)."""
    if not os.environ.get("AWS_REGION"):
        aws_session()


def aws_client(service: str, config: BotoConfig):
    """A client of the process's AWS session (see aws_session); clients are thread-safe, their session is not."""
    session = aws_session()
    with _sessions_lock:
        return session.create_client(service, config=config)


def build_rekognition_client(
    max_pool_connections: int,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
):
    """Credentials, region and endpoint (AWS_ENDPOINT_URL_REKOGNITION) come from the SDKs' standard chain. The
    timeouts are parameters for tests (a slow Rekognition in well under a second); the bot uses the defaults."""
    return retrying_client("rekognition", MAX_ATTEMPTS, max_pool_connections, connect_timeout, read_timeout)


def retrying_client(
    service: str, attempts: int, max_pool_connections: int, connect_timeout: float, read_timeout: float
):
    """aws_client with botocore's standard retry mode (throttling, 5xx and dropped connections retried with jittered
    backoff), `attempts` in all, and these timeouts per attempt."""
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        # "total_max_attempts" counts the first call; botocore's "max_attempts" key counts retries only.
        retries={"mode": "standard", "total_max_attempts": attempts},
        max_pool_connections=max_pool_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return aws_client(service, config)


class PacedRekognitionApi:
    """One Rekognition API (`operation`) for every worker, paced and with its errors mapped to short replies.

    Rekognition's quotas are per API, so each API has its own RateLimiter, shared by all the threads using this
    object; it paces every HTTP attempt (botocore's retries included) by waiting on the client's per-attempt
    `before-sign` event for that operation, so the signature is made after the wait and a long queue never sends a
    stale one. A subclass builds the request and reads the answer; `busy` and `unreachable` word its failures."""

    operation = ""
    busy = unreachable = ""  # sentences marked with N_

    def __init__(
        self,
        client,
        *,
        tps: float = DEFAULT_TPS,
        limiter: RateLimiter | None = None,
        count: Callable[[str], bool] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """count(operation): called for every attempt, once paced, just before it is sent (bot.usage.CallCounter);
        False refuses the attempt (the monthly limit): CallLimitReached is raised instead of sending it."""
        self._client = client
        self.limiter = limiter or RateLimiter(tps)
        self._count = count
        self._metrics = metrics or Metrics()
        client.meta.events.register(f"before-sign.rekognition.{self.operation}", self._pace)
        # Just before the attempt leaves (signed, about to be sent): the pacer counts it from then.
        client.meta.events.register(f"before-send.rekognition.{self.operation}", self._sending)
        # After every attempt (botocore asks whether to retry it): its outcome, in the metrics.
        client.meta.events.register(f"needs-retry.rekognition.{self.operation}", self._attempted)
        self._reported: set[str] = set()
        self._reported_lock = threading.Lock()

    def _call(self, method, request: dict) -> dict:
        """method(**request), the client's method for `operation`; every failure becomes a RekognitionError."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        started = time.perf_counter()
        try:
            return method(**request)
        except NoCredentialsError:
            self._report_unavailable("NoCredentials", "no AWS credentials were found (the AWS SDKs' standard chain)")
            raise self._unavailable() from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code in IMAGE_ERRORS:
                log.info("Rekognition rejected an image (%s): %s", self.operation, code)
                raise ImageRejected(Sentence("Amazon Rekognition couldn't read this image.")) from None
            if code in ACCESS_ERRORS:
                self._report_unavailable(code, f"check the credentials and the rekognition:{self.operation} permission")
                raise self._unavailable() from None
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
            log.warning("%s failed after %d attempt(s): %s", self.operation, attempts, code)
            raise RekognitionBusy(Sentence(self.busy)) from None
        except BotoCoreError as exc:
            log.warning("%s could not reach Rekognition: %s", self.operation, type(exc).__name__)
            raise RekognitionBusy(Sentence(self.unreachable)) from None
        finally:
            self._metrics.observe("stage_seconds", time.perf_counter() - started, stage=self.operation)

    def _attempted(self, response=None, caught_exception=None, **_kwargs) -> None:
        """One attempt reached (or tried to reach) Rekognition: ok, throttled or error. Returns None: no say in
        whether botocore retries it."""
        self._metrics.count(
            "rekognition_calls", api=self.operation, outcome=attempt_outcome(response, caught_exception)
        )

    def _sending(self, **_kwargs) -> None:
        self.limiter.sent()

    def _pace(self, **_kwargs) -> None:
        waited = self.limiter.acquire()
        if waited > 1:
            log.debug("%s waited %.1f s for the rate limit", self.operation, waited)
        if self._count is not None and not self._count(self.operation):
            # Raised through botocore (which catches no exception a before-sign handler raises): nothing is sent.
            raise CallLimitReached(f"{self.operation} not called: the month's Rekognition call limit is reached")

    def _report_unavailable(self, code: str, hint: str) -> None:
        """One clear ERROR line per cause, not one per image."""
        with self._reported_lock:
            first = code not in self._reported
            self._reported.add(code)
        log.log(logging.ERROR if first else logging.DEBUG, "Rekognition is unavailable (%s): %s", code, hint)

    @staticmethod
    def _unavailable() -> RekognitionUnavailable:
        return RekognitionUnavailable(
            Sentence(
                "I can't reach Amazon Rekognition: the bot's AWS access isn't set up. An admin can check the logs."
            )
        )


class RekognitionLabeler(PacedRekognitionApi):
    """DetectLabels, paced by LABELBOT_REKOGNITION_TPS."""

    operation = "DetectLabels"
    busy = N_("I couldn't label this image right now: Amazon Rekognition is busy. Please try again later.")
    unreachable = N_(
        "I couldn't label this image right now: I couldn't reach Amazon Rekognition. Please try again later."
    )

    def detect_labels(
        self,
        image: bytes,
        min_confidence: float,
        max_labels: int,
        *,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
    ) -> tuple[Label, ...]:
        request: dict = {"Image": {"Bytes": image}, "MinConfidence": min_confidence, "MaxLabels": max_labels}
        filters = {"LabelInclusionFilters": list(include), "LabelExclusionFilters": list(exclude)}
        if include or exclude:
            request["Settings"] = {"GeneralLabels": {key: value for key, value in filters.items() if value}}
        response = self._call(self._client.detect_labels, request)
        return tuple(
            Label(
                name=item["Name"],
                confidence=float(item["Confidence"]),
                parents=tuple(p["Name"] for p in item.get("Parents", ())),
                aliases=tuple(a["Name"] for a in item.get("Aliases", ())),
                instances=tuple(_instance(i) for i in item.get("Instances", ()) if i.get("BoundingBox")),
            )
            for item in response.get("Labels", ())
        )


class RekognitionModerator(PacedRekognitionApi):
    """DetectModerationLabels, paced by its own quota (LABELBOT_MODERATION_TPS). Its failures are RekognitionErrors
    like any other: the caller treats an image it couldn't check as not labelled (failing closed), never as safe."""

    operation = "DetectModerationLabels"
    busy = N_("I couldn't check this image right now: Amazon Rekognition is busy. Please try again later.")
    unreachable = N_(
        "I couldn't check this image right now: I couldn't reach Amazon Rekognition. Please try again later."
    )

    def detect_moderation_labels(self, image: bytes, min_confidence: float) -> tuple[ModerationLabel, ...]:
        response = self._call(
            self._client.detect_moderation_labels, {"Image": {"Bytes": image}, "MinConfidence": min_confidence}
        )
        return tuple(
            ModerationLabel(
                name=item["Name"],
                confidence=float(item["Confidence"]),
                parent=item.get("ParentName", ""),
                level=int(item.get("TaxonomyLevel", 1)),
            )
            for item in response.get("ModerationLabels", ())
        )


class RekognitionTextReader(PacedRekognitionApi):
    """DetectText, paced by its own quota (LABELBOT_TEXT_TPS). Its failures raise RekognitionError like the others';
    the caller keeps the image's labels and replies without its text."""

    operation = "DetectText"
    busy = N_("I couldn't read this image right now: Amazon Rekognition is busy. Please try again later.")
    unreachable = N_(
        "I couldn't read this image right now: I couldn't reach Amazon Rekognition. Please try again later."
    )

    def detect_text(self, image: bytes, min_confidence: float) -> tuple[TextDetection, ...]:
        """Every LINE and WORD DetectText found, in its order (the LINEs, then the WORDs), its word filter at
        min_confidence."""
        response = self._call(
            self._client.detect_text,
            {"Image": {"Bytes": image}, "Filters": {"WordFilter": {"MinConfidence": min_confidence}}},
        )
        detections = []
        for item in response.get("TextDetections", ()):
            box = item.get("Geometry", {}).get("BoundingBox", {})
            detections.append(
                TextDetection(
                    kind=item.get("Type", ""),
                    text=item.get("DetectedText", ""),
                    confidence=float(item.get("Confidence", 0.0)),
                    left=float(box.get("Left", 0.0)),
                    top=float(box.get("Top", 0.0)),
                    width=float(box.get("Width", 0.0)),
                    height=float(box.get("Height", 0.0)),
                    id=int(item.get("Id", 0)),
                    parent_id=int(item["ParentId"]) if "ParentId" in item else None,
                )
            )
        return tuple(detections)


def attempt_outcome(response, caught_exception, throttling: frozenset[str] = THROTTLING_ERRORS) -> str:
    """What one attempt came to, from botocore's needs-retry event (the HTTP response and parsed answer, or the
    exception): "ok", "throttled" (an error code in `throttling`) or "error"."""
    if caught_exception is not None or response is None:
        return "error"
    if response[0].status_code < 300:
        return "ok"
    return "throttled" if response[1].get("Error", {}).get("Code", "") in throttling else "error"


def _instance(item: dict) -> Instance:
    box = item["BoundingBox"]
    return Instance(
        left=float(box.get("Left", 0.0)),
        top=float(box.get("Top", 0.0)),
        width=float(box.get("Width", 0.0)),
        height=float(box.get("Height", 0.0)),
        confidence=float(item.get("Confidence", 0.0)),
    )
