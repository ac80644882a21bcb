"""The local text reader: RapidOCR (PaddleOCR's PP-OCRv6 small detector and recogniser on ONNX Runtime) in this
process, for the screenshots Rekognition's DetectText can't read (Japanese: kanji, kana, full-width forms; English
too). Chosen and measured in bench/README.md ("Chosen: RapidOCR 3.10"); the models are in the rapidocr wheel, and the
settings below use only them (any other model choice makes RapidOCR download one at the first read).

The engine is loaded once per process, on the first read (about 0.5 s and +46 MB for numpy, OpenCV, ONNX Runtime
and the models; +230 MB at the peak of reading, +120 MB kept between reads): a bot whose channels never need it never
imports it. Reads run on their own threads, LABELBOT_TEXT_READS_AT_ONCE at a time (1 by default, with every core's
ONNX Runtime thread), so a burst of screenshots queues here rather than across the labelling workers: a worker waiting
for a read steps aside (bot.jobs.waiting_aside) and another takes the next image. A read that takes longer than its
deadline, or fails, gives no text: the caller replies with the labels alone, as after a failed DetectText.

Confidence: RapidOCR gives each line the mean of the recogniser's best probability per character (0-1), here x100 on
Rekognition's 0-100 scale; clean screen text scores 95-100 on both, and LABELBOT_TEXT_MIN_CONFIDENCE (80) drops
garbage and half-read lines (bench/README.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import io
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import Any

from PIL import Image

from bot.images import READING_WIDTH
from bot.jobs import waiting_aside
from bot.metrics import Metrics
from bot.screen_text import TextDetection

log = logging.getLogger(__name__)

# In the text step's cache key: an answer read by this engine and models is reused, Rekognition's is not.
LOCAL_ENGINE = "rapidocr-3.10/pp-ocrv6-small"
ENGINE_SETTINGS = {
    "Global.log_level": "error",  # a blank image is a warning there; the bot logs what it needs
    "Global.use_cls": False,  # screenshots are upright: no angle classifier
    "Det.limit_type": "max",  # the detector sees the long side at most 960 px
    "Det.limit_side_len": 960,
    "Rec.rec_batch_num": 1,  # one line at a time: less memory, the same speed on two cores
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
}
# A read waits for its turn this long at most (a burst of hundreds of screenshots): then its image goes without text.
# Its worker steps aside (bot.jobs.waiting_aside) unless the turn comes at once.
TURN_WAIT_SECONDS = 300.0
TURN_AT_ONCE_SECONDS = 0.05
# What is read: the prepared image at most READ_LONG_SIDE on its long side; a tall screenshot (more than twice as tall
# as wide) at most STRIP_WIDTH wide, in strips STRIP_HEIGHT tall overlapping by STRIP_OVERLAP (more than a line: a line
# one strip cuts is whole in the next), from the top, until ENOUGH_CHARACTERS are read or MAX_STRIPS (~9,000 rows at
# 1280 wide: bot.images.READING_ROWS, the pipeline's copy of a tall screenshot) have been: the reply shows about 300
# characters and the index 100 terms, and each strip is a read.
READ_LONG_SIDE = 2048
STRIP_WIDTH = READING_WIDTH
STRIP_HEIGHT = 1600
STRIP_OVERLAP = 120
MAX_STRIPS = 6
ENOUGH_CHARACTERS = 1000
# glibc's M_MMAP_THRESHOLD, where the process set none: the detector's tensors (a few MB each) are mmapped and go
# back to the system after each read instead of staying in the heap (+285 MB peak instead of +375). The labelling
# process sets 128 KiB (bot.labelling_process), which the reader keeps: +230 MB (bench/README.md, local_text).
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 8 << 20


class LocalReadFailed(Exception):
    """The local engine gave no text for an image (it failed, or took longer than its deadline)."""


def local_engine_installed() -> bool:
    """Whether rapidocr and ONNX Runtime are installed (the `ocr` extra), without importing them."""
    return all(importlib.util.find_spec(name) is not None for name in ("rapidocr", "onnxruntime"))


def engine_in_use(engine: str, *, on_lambda: bool = False) -> str:
    """LABELBOT_TEXT_ENGINE, except that `auto` without the local reader installed (labelbot installed without its
    ocr extra) is DetectText everywhere, said once (`local` without it stopped start-up already). On Lambda it is
    LabelFunction's image that has it, not EventsFunction's zip: taken as installed."""
    if engine == "auto" and not on_lambda and not local_engine_installed():
        _say_not_installed()
        return "rekognition"
    return engine


@functools.cache
def _say_not_installed() -> None:
    log.warning(
        "LABELBOT_TEXT_ENGINE is auto, but the local text reader isn't installed (the ocr extra): DetectText reads "
        "every channel's images, Japanese ones too (Latin script only)"
    )


@functools.cache
def load_rapidocr(threads: int) -> Callable[[Image.Image], Any]:
    """RapidOCR with the settings above and `threads` ONNX Runtime threads per read: one per process (and thread
    count), whichever reader asks first (the engine takes concurrent reads)."""
    # ONNX Runtime's Linux wheels send usage telemetry unless this is set before it loads (run.sh and the Lambda
    # image set it too)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # the labelling process's own, lower (bot.labelling_process), wins
        with contextlib.suppress(OSError, AttributeError):  # not glibc: the default, more memory kept between reads
            ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    from rapidocr import RapidOCR

    return RapidOCR(params={**ENGINE_SETTINGS, "EngineConfig.onnxruntime.intra_op_num_threads": threads})


class LocalTextReader:
    """detect_text as RekognitionTextReader has it (LINE detections, boxes as ratios of the image), read here."""

    def __init__(
        self,
        *,
        reads_at_once: int = 1,
        threads: int | None = None,
        deadline_seconds: float = 20.0,
        turn_wait_seconds: float = TURN_WAIT_SECONDS,
        load: Callable[[int], Callable[[Image.Image], Any]] = load_rapidocr,
        metrics: Metrics | None = None,
    ) -> None:
        """reads_at_once: LABELBOT_TEXT_READS_AT_ONCE; threads: ONNX Runtime's per read (default: the cores shared
        among the reads); deadline_seconds: LABELBOT_TEXT_READ_SECONDS, a read's from its start; turn_wait_seconds:
        the longest wait for a turn (the worker waits aside, see bot.jobs.waiting_aside)."""
        self._reads = ThreadPoolExecutor(reads_at_once, thread_name_prefix="labelbot-text-read")
        self._threads = threads or max(1, (os.cpu_count() or 1) // reads_at_once)
        self._deadline = deadline_seconds
        self._turn_wait = turn_wait_seconds
        self._load = load
        self._metrics = metrics or Metrics()
        self._engine: Callable[[Image.Image], Any] | None = None
        self._engine_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def detect_text(self, image: bytes, min_confidence: float) -> tuple[TextDetection, ...]:
        """The lines read at or above min_confidence (0-100), top to bottom, in the prepared image, or in its copy
        for reading (bot.images.FramedImage.reading: a tall screenshot's), their boxes as ratios of the image.
        Raises LocalReadFailed."""
        reading, part = getattr(image, "reading", None), getattr(image, "reading_part", 1.0)
        turn = threading.Event()
        started_at: list[float] = []

        def read() -> list[TextDetection]:
            started_at.append(time.monotonic())
            turn.set()
            return self._read(reading or image)

        try:
            future = self._reads.submit(read)
        except RuntimeError:  # closed: the process is stopping
            raise LocalReadFailed("the local text reader has stopped") from None
        future.add_done_callback(lambda _: turn.set())  # a cancelled read (close) wakes its waiter too
        try:
            with waiting_aside() if not turn.wait(TURN_AT_ONCE_SECONDS) else contextlib.nullcontext():
                if not turn.wait(self._turn_wait) and future.cancel():  # cancel: unless it started just now
                    self._metrics.count("local_text_reads", outcome="late")
                    raise LocalReadFailed(f"no turn to read within {self._turn_wait:g} s")
                turn.wait()
                if future.cancelled():
                    raise LocalReadFailed("the local text reader has stopped")
                lines = future.result(timeout=max(0.0, started_at[0] + self._deadline - time.monotonic()))
        except FutureTimeout:
            self._metrics.count("local_text_reads", outcome="late")  # the read ends unheard, its turn with it
            raise LocalReadFailed(f"no text read within {self._deadline:g} s") from None
        except LocalReadFailed:
            raise
        except Exception as exc:
            self._metrics.count("local_text_reads", outcome="failed")
            raise LocalReadFailed(f"the local text reader failed: {type(exc).__name__}: {exc}") from exc
        self._metrics.count("local_text_reads", outcome="ok")
        if reading and part != 1.0:  # boxes as ratios of the whole image, of whose height the copy shows `part`
            lines = [replace(line, top=line.top * part, height=line.height * part) for line in lines]
        return tuple(line for line in lines if line.confidence >= min_confidence)

    def _read(self, image: bytes) -> list[TextDetection]:
        started = time.perf_counter()
        try:
            engine = self._loaded_engine()
            picture = readable_picture(image)
            lines: list[TextDetection] = []
            for top, bottom, keep_from, keep_to in strips(picture.height):
                strip = (
                    picture if (top, bottom) == (0, picture.height) else picture.crop((0, top, picture.width, bottom))
                )
                found = _lines(engine(strip), top, picture.width, picture.height)
                lines += [line for line in found if keep_from <= _middle(line, picture.height) < keep_to]
                if sum(len(line.text) for line in lines) >= ENOUGH_CHARACTERS:
                    break
            lines = [replace(line, id=number) for number, line in enumerate(lines, 1)]
        finally:
            self._metrics.observe("stage_seconds", time.perf_counter() - started, stage="local_text")
        log.debug("read %d line(s) locally in %.0f ms", len(lines), (time.perf_counter() - started) * 1000)
        return lines

    def _loaded_engine(self) -> Callable[[Image.Image], Any]:
        with self._engine_lock:
            if self._engine is None:
                started = time.perf_counter()
                self._engine = self._load(self._threads)
                log.info(
                    "loaded the local text reader (%s, %d thread(s) a read) in %.1f s",
                    LOCAL_ENGINE,
                    self._threads,
                    time.perf_counter() - started,
                )
            return self._engine

    def close(self) -> None:
        self._reads.shutdown(wait=False, cancel_futures=True)


def readable_picture(image: bytes) -> Image.Image:
    """The prepared image (bot.images.prepare_for_rekognition: decoded within its pixel limits once already) as RGB,
    at most READ_LONG_SIDE on its long side, or for a tall screenshot at most STRIP_WIDTH wide: an image that small
    in bytes is passed on to Rekognition as it came, however many pixels it has (up to 10,000 a side)."""
    with Image.open(io.BytesIO(image)) as opened:
        width, height = opened.size
        scale = min(1.0, STRIP_WIDTH / width) if _tall(width, height) else min(1.0, READ_LONG_SIDE / max(width, height))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if size != (width, height) and opened.format == "JPEG":
            opened.draft("RGB", size)  # DCT scaling: decode at the smallest scale that still covers the size
        picture = opened.convert("RGB")
    return picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def _tall(width: int, height: int) -> bool:
    return height > 2 * width and height > STRIP_HEIGHT


def strips(height: int) -> list[tuple[int, int, int, int]]:
    """Where to read a picture this tall: (top, bottom) of each strip, and the rows whose lines each strip keeps
    (a line in the overlap is kept by the strip in which it is further from the edge). One strip unless tall; at
    most MAX_STRIPS, from the top."""
    if height <= STRIP_HEIGHT:
        return [(0, height, 0, height)]
    result = []
    top = 0
    while top < height and len(result) < MAX_STRIPS:
        bottom = min(height, top + STRIP_HEIGHT)
        keep_from = top + STRIP_OVERLAP // 2 if top else 0
        keep_to = bottom - STRIP_OVERLAP // 2 if bottom < height else height
        result.append((top, bottom, keep_from, keep_to))
        top = bottom - STRIP_OVERLAP
        if bottom == height:
            break
    return result


def _middle(line: TextDetection, height: int) -> float:
    return (line.top + line.height / 2) * height


def _lines(found: Any, offset: int, width: int, height: int) -> list[TextDetection]:
    """RapidOCR's output for a strip starting `offset` rows down a width x height picture (four corner points, text
    and a 0-1 score per line) as LINE detections, their boxes as ratios of the whole picture."""
    if getattr(found, "boxes", None) is None:  # no text
        return []
    lines = []
    for number, (quad, text, score) in enumerate(zip(found.boxes, found.txts, found.scores, strict=True), 1):
        xs = [min(max(float(x), 0.0), width) for x, _ in quad]
        ys = [min(max(float(y) + offset, 0.0), height) for _, y in quad]
        lines.append(
            TextDetection(
                kind="LINE",
                text=str(text),
                confidence=100.0 * float(score),
                left=min(xs) / width,
                top=min(ys) / height,
                width=(max(xs) - min(xs)) / width,
                height=(max(ys) - min(ys)) / height,
                id=number,
            )
        )
    return lines
