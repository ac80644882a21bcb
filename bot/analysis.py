"""An image's analysis: a sequence of steps, each with its own Rekognition call, pace and cache entry.

The pipeline downloads an image, then hands its content hash and a way to prepare it to ImageAnalysis.analyse, which
runs the steps in order. Each step says whether it is wanted (from the channel's settings and what earlier steps
found), answers from its cache when these bytes were analysed with the same request parameters in the last
ANALYSIS_CACHE_DAYS, and otherwise calls its Rekognition API (paced by its own limiter, see bot.rekognition) on the
prepared image, which is made once, only when some step needs it. services.py builds ModerationStep
(DetectModerationLabels, caching through a StepCache over the store's answer cache, Stores.answers) and LabelsStep
(DetectLabels) and TextStep (DetectText, after them), so neither this module nor the pipeline grows a branch per
feature. A step whose call must not fail the image (text) catches its own errors; one whose answer stops the others
(moderation's hold) says so in the Analysis it returns, and the later steps' `wanted` reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from bot.jobs import waiting_aside
from bot.local_text import LOCAL_ENGINE, LocalReadFailed
from bot.metrics import Metrics
from bot.moderation import ModerationLabel, held_categories
from bot.rekognition import CallLimitReached, RekognitionError, RekognitionLabeler, RekognitionModerator
from bot.render import Label, labels_to_request
from bot.screen_text import ScreenText, read_text, text_engine_for, wants_text
from bot.settings import ChannelSettings

if TYPE_CHECKING:
    from bot.local_text import LocalTextReader
    from bot.rekognition import RekognitionTextReader
    from bot.store import LabelCache, StepAnswerCache

log = logging.getLogger(__name__)

ANALYSIS_CACHE_DAYS = 30  # how long Rekognition's answer for an image (and request parameters) is reused
IN_FLIGHT_WAIT_SECONDS = 60.0  # a worker with the same image as another waits this long for the other's answer
# DetectModerationLabels is asked for everything from this confidence (its own default) and each channel's threshold
# applied to the cached answer: changing the threshold costs no call.
MODERATION_CALL_MIN_CONFIDENCE = 50.0


@dataclass(frozen=True)
class Analysis:
    """What the steps found in one image so far."""

    labels: tuple[Label, ...] = ()
    # Moderation's counted categories at or above the channel's threshold (most confident first): the image is held
    # for an admin, and no later step runs.
    held: tuple[tuple[str, float], ...] = ()
    content_key: str = ""  # what an admin's release of a held image names (content_key(): the bytes' hash, hex)
    text: ScreenText | None = None  # what DetectText read, secrets hidden; None: not read (not wanted, or it failed)
    text_failed: bool = False  # DetectText was wanted and failed: the labels go out without the text
    text_limited: bool = False  # DetectText was wanted past the month's call limit: the labels go out without it
    # The steps that asked Rekognition (the others answered from their caches); not part of what was found.
    calls: int = field(default=0, compare=False)


class AnalysisStep(Protocol):
    """One step: its own Rekognition call and its own cache (a store concern of its own)."""

    name: str  # for logs: "labels"

    def wanted(self, settings: ChannelSettings, so_far: Analysis) -> bool:
        """Whether this image needs the step, in this channel, after what the earlier steps found."""

    def asks_rekognition(self, settings: ChannelSettings) -> bool:
        """Whether call() asks Rekognition in this channel (counted in Analysis.calls) or answers without AWS."""

    def cache_params(self, settings: ChannelSettings) -> list:
        """Every request parameter that changes the step's answer (with the image, its cache key)."""

    def cached(self, key: str, newer_than: float) -> Any | None:
        """The answer cached under key at or after newer_than (epoch seconds), else None."""

    def cache(self, key: str, answer: Any) -> None: ...

    def call(self, image: bytes, settings: ChannelSettings) -> Any:
        """Ask Rekognition about the prepared image; raises RekognitionError (or ImageError from preparing)."""

    def add_to(self, analysis: Analysis, answer: Any, settings: ChannelSettings) -> Analysis:
        """The analysis with this step's answer in it (read with the channel's settings)."""


def content_hash(image: bytes) -> hashlib._Hash:
    """The hash of the downloaded bytes that every step's cache key starts from (prepare_for_rekognition turns the
    same bytes into the same request every time)."""
    return hashlib.sha256(image)


def content_key(content: hashlib._Hash, workspace: str = "") -> str:
    """What an admin's release of a held image names (bot.moderation_review): the downloaded bytes' hash, hex, and
    for an install other than the one workspace ("") the install's too, so a release never applies in another
    workspace."""
    return cache_key(content, [{"workspace": workspace}]) if workspace else content.hexdigest()


def cache_key(content: hashlib._Hash, params: list) -> str:
    """sha256 of the image and the step's request parameters."""
    digest = content.copy()
    digest.update(b"\0" + json.dumps(params).encode())
    return digest.hexdigest()


class LabelsStep:
    """DetectLabels with the channel's threshold, label count and include/exclude lists, cached in the label cache."""

    name = "labels"

    def __init__(self, labeler: RekognitionLabeler, label_cache: LabelCache | NoLabelCache) -> None:
        self._labeler = labeler
        self._label_cache = label_cache

    def wanted(self, settings: ChannelSettings, so_far: Analysis) -> bool:
        return not so_far.held and not settings.poster_opted_out

    @staticmethod
    def asks_rekognition(settings: ChannelSettings) -> bool:
        return True

    @staticmethod
    def cache_params(settings: ChannelSettings) -> list:
        requested = labels_to_request(settings.max_labels)
        return [settings.threshold, requested, list(settings.include), list(settings.exclude)]

    def cached(self, key: str, newer_than: float) -> tuple[Label, ...] | None:
        return self._label_cache.cached_labels(key, newer_than=newer_than)

    def cache(self, key: str, answer: tuple[Label, ...]) -> None:
        self._label_cache.cache_labels(key, answer)

    def call(self, image: bytes, settings: ChannelSettings) -> tuple[Label, ...]:
        return tuple(
            self._labeler.detect_labels(
                image,
                settings.threshold,
                labels_to_request(settings.max_labels),  # ancestors folded, max_labels remain (bot.render)
                include=settings.include,
                exclude=settings.exclude,
            )
        )

    def add_to(self, analysis: Analysis, answer: tuple[Label, ...], settings: ChannelSettings) -> Analysis:
        return replace(analysis, labels=answer)


class AnswerCache(Protocol):
    """A step's cache of Rekognition's answers by key, as JSON-able values."""

    def cached(self, key: str, newer_than: float) -> Any | None: ...

    def cache(self, key: str, answer: Any) -> None: ...


class StepCache:
    """One step's AnswerCache over the store's StepAnswerCache (Stores.answers), its entries under the step's name."""

    def __init__(self, answers: StepAnswerCache, step: str) -> None:
        self._answers = answers
        self._step = step

    def cached(self, key: str, newer_than: float) -> Any | None:
        return self._answers.cached_answer(self._step, key, newer_than=newer_than)

    def cache(self, key: str, answer: Any) -> None:
        self._answers.cache_answer(self._step, key, answer)


class ModerationStep:
    """DetectModerationLabels first, where the channel has moderation on. Its answer is asked for at Rekognition's
    floor of MODERATION_CALL_MIN_CONFIDENCE and cached as it came, so a channel's threshold or ignored categories
    apply without a second call; an image with a counted category at or above the threshold is held (the later
    steps don't run). A failure raises (RekognitionError): the image is then not labelled, never taken for safe."""

    name = "moderation"

    def __init__(self, moderator: RekognitionModerator, cache: AnswerCache, *, frames: int = 1) -> None:
        """frames: LABELBOT_MODERATION_FRAMES, an animation's frames checked at most (the pipeline prepares them)."""
        self._moderator = moderator
        self._cache = cache
        self._frames = frames

    def wanted(self, settings: ChannelSettings, so_far: Analysis) -> bool:
        return settings.moderation

    @staticmethod
    def asks_rekognition(settings: ChannelSettings) -> bool:
        return True

    def cache_params(self, settings: ChannelSettings) -> list:
        return ["moderation", MODERATION_CALL_MIN_CONFIDENCE, *([self._frames] if self._frames > 1 else [])]

    def cached(self, key: str, newer_than: float) -> tuple[ModerationLabel, ...] | None:
        found = self._cache.cached(key, newer_than)
        return None if found is None else tuple(ModerationLabel(**item) for item in found)

    def cache(self, key: str, answer: tuple[ModerationLabel, ...]) -> None:
        self._cache.cache(key, [asdict(label) for label in answer])

    def call(self, image: bytes, settings: ChannelSettings) -> tuple[ModerationLabel, ...]:
        """The first frame (the prepared image), then each other frame of an animation (bot.images.FramedImage), one
        call each: what was found in any of them, each label once at its highest confidence."""
        found = list(self._moderator.detect_moderation_labels(image, MODERATION_CALL_MIN_CONFIDENCE))
        for frame in getattr(image, "frames", ()):
            found += self._moderator.detect_moderation_labels(frame, MODERATION_CALL_MIN_CONFIDENCE)
        strongest: dict[tuple[str, str], ModerationLabel] = {}
        for label in found:
            key = (label.name, label.parent)
            if key not in strongest or label.confidence > strongest[key].confidence:
                strongest[key] = label
        return tuple(sorted(strongest.values(), key=lambda label: -label.confidence))

    def add_to(self, analysis: Analysis, answer: tuple[ModerationLabel, ...], settings: ChannelSettings) -> Analysis:
        held = held_categories(answer, settings.moderation_threshold, settings.moderation_ignored)
        return replace(analysis, held=held)


class TextStep:
    """The text after the labels, where the channel's text mode wants it (on; auto: the labels name something
    text-bearing, see bot/text_labels.txt), read by Rekognition's DetectText or by the local reader
    (bot.local_text) as LABELBOT_TEXT_ENGINE says: `auto` reads Japanese channels' images locally (DetectText reads
    Latin script only) and the others with DetectText; `local` everything locally (no AWS call for text at all);
    `rekognition` everything with DetectText. The lines at or above min_confidence are read in reading order with
    their secrets hidden (bot.screen_text.read_text) before anything is kept: the cache holds only the redacted
    lines, under a key naming the engine. A failure never fails the image: it is logged, counted in `failures`, and
    the labels go out without the text; so do they past the month's call limit (not a failure: the call was never
    made; the local reader has no limit)."""

    name = "text"

    def __init__(
        self,
        reader: RekognitionTextReader,
        cache: AnswerCache,
        text_labels: frozenset[str],
        min_confidence: float,
        *,
        engine: str = "rekognition",
        local_reader: LocalTextReader | None = None,
    ) -> None:
        """engine: LABELBOT_TEXT_ENGINE; local_reader: required unless it is "rekognition"."""
        if engine != "rekognition" and local_reader is None:
            raise ValueError(f"the text engine {engine!r} needs a local reader")
        self._reader = reader
        self._local_reader = local_reader
        self._engine = engine
        self._cache = cache
        self._text_labels = text_labels
        self._min_confidence = min_confidence
        self.failures = 0  # reads that gave no text, since start
        self._failures_lock = threading.Lock()

    def engine_for(self, settings: ChannelSettings) -> str:
        """Who reads this channel's images: "local" or "rekognition"."""
        return text_engine_for(self._engine, settings.language)

    def wanted(self, settings: ChannelSettings, so_far: Analysis) -> bool:
        if so_far.held or settings.text == "off" or settings.poster_opted_out:
            return False
        names = [name for label in so_far.labels for name in (label.name, *label.parents, *label.aliases)]
        return wants_text(settings.text, names, self._text_labels)

    def asks_rekognition(self, settings: ChannelSettings) -> bool:
        return self.engine_for(settings) == "rekognition"

    def reads_locally(self, settings: ChannelSettings) -> bool:
        """Whether this channel's images may be read by the local reader (if their labels want it, under auto)."""
        return settings.text != "off" and not settings.poster_opted_out and self.engine_for(settings) == "local"

    def cache_params(self, settings: ChannelSettings) -> list:
        if self.engine_for(settings) == "local":
            return ["text", self._min_confidence, LOCAL_ENGINE]
        return ["text", self._min_confidence]

    def cached(self, key: str, newer_than: float) -> ScreenText | None:
        found = self._cache.cached(key, newer_than)
        if found is None:
            return None
        boxes = tuple(tuple(map(float, box)) for box in found.get("boxes", ()))
        if "secret_boxes" in found:
            secret_boxes = tuple(tuple(map(float, box)) for box in found["secret_boxes"])
        else:  # cached before the lines with secrets were told apart: cover every line that had one
            secret_boxes = boxes if found["secrets"] else ()
        return ScreenText(tuple(found["lines"]), tuple(found["secrets"]), boxes, secret_boxes)

    def cache(self, key: str, answer: ScreenText | CallLimitReached | None) -> None:
        if isinstance(answer, ScreenText):  # a failure is not an answer: the next post of the image tries again
            self._cache.cache(
                key,
                {
                    "lines": list(answer.lines),
                    "secrets": list(answer.secrets),
                    "boxes": [list(box) for box in answer.boxes],
                    "secret_boxes": [list(box) for box in answer.secret_boxes],
                },
            )

    def call(self, image: bytes, settings: ChannelSettings) -> ScreenText | CallLimitReached | None:
        local = self.engine_for(settings) == "local"
        try:
            if local:
                detections = self._local_reader.detect_text(image, self._min_confidence)
            else:
                detections = self._reader.detect_text(image, self._min_confidence)
        except CallLimitReached as exc:
            return exc
        except (RekognitionError, LocalReadFailed) as exc:
            with self._failures_lock:
                self.failures += 1
            if local:
                log.warning("The local text reader failed, so the reply goes without the text: %s", exc)
            else:
                log.warning("DetectText failed, so the reply goes without the text: %s", exc)
            return None
        return read_text(detections, self._min_confidence)

    def close(self) -> None:
        """Stop the local reader's threads (the reads waiting for a turn give no text)."""
        if self._local_reader is not None:
            self._local_reader.close()

    def add_to(
        self, analysis: Analysis, answer: ScreenText | CallLimitReached | None, settings: ChannelSettings
    ) -> Analysis:
        if isinstance(answer, CallLimitReached):
            return replace(analysis, text_limited=True)
        if answer is None:
            return replace(analysis, text_failed=True)
        return replace(analysis, text=answer)


class NoLabelCache:
    """A label cache that keeps nothing: `python -m bot label FILE` asks Rekognition every time."""

    def cached_labels(self, cache_key: str, *, newer_than: float) -> None:
        return None

    def cache_labels(self, cache_key: str, labels: tuple[Label, ...]) -> None:
        pass


def label_cache_key(image: bytes, settings: ChannelSettings) -> str:
    """The label cache's key for these downloaded bytes in a channel with these settings."""
    return cache_key(content_hash(image), LabelsStep.cache_params(settings))


class _PreparedOnce:
    """prepare() run at most once, by the first step that calls Rekognition."""

    def __init__(self, prepare: Callable[[], bytes]) -> None:
        self._prepare = prepare
        self._image: bytes | None = None

    def __call__(self) -> bytes:
        if self._image is None:
            self._image = self._prepare()
        return self._image


class ImageAnalysis:
    """The steps, in order, shared by every worker: a second worker with the same image and step waits for the first
    one's answer instead of calling Rekognition again. A cache that fails costs a call, never the answer."""

    def __init__(
        self, steps: Sequence[AnalysisStep], *, clock: Callable[[], float] = time.time, metrics: Metrics | None = None
    ) -> None:
        self.steps = tuple(steps)
        self._metrics = metrics or Metrics()
        self._clock = clock
        self._in_flight: dict[str, threading.Event] = {}
        self._in_flight_lock = threading.Lock()

    def analyse(
        self, content: hashlib._Hash, prepare: Callable[[], bytes], settings: ChannelSettings, workspace: str = ""
    ) -> Analysis:
        """content: content_hash of the downloaded bytes (the caller lets the bytes go once prepared); prepare():
        the bytes Rekognition is sent; workspace: the install the image came through (Job.workspace), part of every
        cache key but the one workspace's (""), so that no cached answer is reused in another workspace."""
        prepared = _PreparedOnce(prepare)
        analysis = Analysis(content_key=content_key(content, workspace))
        for step in self.steps:
            if step.wanted(settings, analysis):
                params = step.cache_params(settings) + ([{"workspace": workspace}] if workspace else [])
                key = cache_key(content, params)
                answer, called = self._answer(step, key, prepared, settings)
                if not called:
                    self._metrics.count("cache_hits", step=step.name)
                # A refusal by the monthly limit is no call; nor is a local read (bot.local_text)
                asked = called and not isinstance(answer, CallLimitReached) and step.asks_rekognition(settings)
                analysis = replace(step.add_to(analysis, answer, settings), calls=analysis.calls + asked)
        return analysis

    def _answer(
        self, step: AnalysisStep, key: str, prepare: Callable[[], bytes], settings: ChannelSettings
    ) -> tuple[Any, bool]:
        """The step's answer, and whether Rekognition was asked for it."""
        newer_than = self._clock() - ANALYSIS_CACHE_DAYS * 86400
        cached = self._cached(step, key, newer_than)
        if cached is not None:
            return cached, False
        flight = f"{step.name}:{key}"
        with self._in_flight_lock:
            waiting = self._in_flight.get(flight)
            if waiting is None:
                self._in_flight[flight] = threading.Event()
        if waiting is not None:  # another worker is asking Rekognition about this very image: use its answer
            with waiting_aside():  # (a local read may first wait for its turn)
                waiting.wait(IN_FLIGHT_WAIT_SECONDS)
            cached = self._cached(step, key, newer_than)
            return (
                (cached, False) if cached is not None else (self._call_and_cache(step, key, prepare(), settings), True)
            )
        try:
            cached = self._cached(step, key, newer_than)  # finished between the first look and taking the key
            return (
                (cached, False) if cached is not None else (self._call_and_cache(step, key, prepare(), settings), True)
            )
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(flight).set()

    def close(self) -> None:
        """At shutdown: the steps that keep threads of their own (the text step's local reader) stop them."""
        for step in self.steps:
            if hasattr(step, "close"):
                step.close()

    @staticmethod
    def _cached(step: AnalysisStep, key: str, newer_than: float) -> Any | None:
        try:
            return step.cached(key, newer_than)
        except Exception:
            log.exception("reading the %s cache failed", step.name)
            return None

    @staticmethod
    def _call_and_cache(step: AnalysisStep, key: str, image: bytes, settings: ChannelSettings) -> Any:
        answer = step.call(image, settings)
        try:
            step.cache(key, answer)
        except Exception:
            log.exception("writing the %s cache failed", step.name)
        return answer
