"""The local text reader (bot/local_text.py): the real engine (RapidOCR, PP-OCRv6 small) on Japanese and English
screenshots rendered here in Noto Sans JP, its turns and deadline, the worker that steps aside while it waits, and
the hard images (damaged, 50 MP, 1080x20000, blank) through the pipeline's preparing."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image, ImageDraw

from bot.analysis import Analysis, ImageAnalysis, TextStep, content_hash
from bot.images import FramedImage, prepare_for_rekognition, reading_copy
from bot.jobs import WorkerPool, waiting_aside
from bot.local_text import LOCAL_ENGINE, LocalReadFailed, LocalTextReader, load_rapidocr, readable_picture, strips
from bot.metrics import Metrics
from bot.render import ImageResult, Label
from bot.settings import ChannelSettings
from bot.store.sqlite import open_sqlite_stores
from bot.where_picture import caption_font
from tests.pictures import rendered_screenshot

MEETING = "明日の会議は午後三時からです"
DEPLOY = "Deploy failed: exit code 2"
JAPANESE = ChannelSettings(threshold=80.0, max_labels=5, text="on", language="ja")
ENGLISH = ChannelSettings(threshold=80.0, max_labels=5, text="on")


@pytest.fixture(scope="module")
def reader():
    """One reader (and engine) for the module's real reads, with one ONNX Runtime thread: the suite's other
    processes use the other core."""
    reader = LocalTextReader(threads=1)
    yield reader
    reader.close()


def test_it_reads_japanese_and_english_lines_where_they_are_written(reader):
    image = rendered_screenshot(MEETING, DEPLOY, "ファイルを保存できませんでした（Ｅ１０２３）")

    lines = reader.detect_text(image, 80.0)

    assert [line.text for line in lines][:2] == [MEETING, DEPLOY]
    assert "保存できませんでした" in lines[2].text
    assert all(line.kind == "LINE" and 80.0 <= line.confidence <= 100.0 for line in lines)
    first = lines[0]  # drawn at (40, 40) in 28 px type on 1000x400
    assert 0.02 <= first.left <= 0.06 and 0.08 <= first.top <= 0.13 and 0.04 <= first.height <= 0.12
    assert [line.top for line in lines] == sorted(line.top for line in lines)


def test_a_blank_image_has_no_lines_and_damaged_bytes_fail_as_a_read(reader):
    blank = io.BytesIO()
    Image.new("RGB", (640, 400), "white").save(blank, "JPEG")
    assert reader.detect_text(blank.getvalue(), 80.0) == ()
    with pytest.raises(LocalReadFailed, match="the local text reader failed"):
        reader.detect_text(b"\xff\xd8\xff\xe0 not a JPEG", 80.0)


def test_the_min_confidence_applies_to_the_engines_scores(reader):
    image = rendered_screenshot(MEETING)
    [line] = reader.detect_text(image, 0.0)
    assert reader.detect_text(image, min(100.0, line.confidence + 0.001)) == ()


def test_reading_needs_no_network(monkeypatch):
    """The models are in the wheel: a fresh engine loads and reads with every connection refused."""

    def refused(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refused)
    monkeypatch.setattr(socket, "create_connection", refused)
    engine = load_rapidocr.__wrapped__(1)  # not the process's shared one: load it here
    reader = LocalTextReader(load=lambda threads: engine)
    try:
        assert [line.text for line in reader.detect_text(rendered_screenshot(DEPLOY), 80.0)] == [DEPLOY]
    finally:
        reader.close()


def test_nothing_of_the_engine_is_imported_until_the_first_read(tmp_path):
    """A bot whose channels never need the local reader never imports it: built services, a reader, no read."""
    code = (
        "import sys\n"
        "from bot.config import load_config\n"
        "from bot.services import build_services\n"
        f"env = {{'SLACK_BOT_TOKEN': 'xoxb-1', 'SLACK_SIGNING_SECRET': 's', 'LABELBOT_DB': {str(tmp_path / 'db')!r},\n"
        "       'LABELBOT_TEXT_ENGINE': 'local', 'AWS_DEFAULT_REGION': 'us-east-1'}\n"
        "services = build_services(load_config(env, mode='http'))\n"
        "step = services.pipeline.analysis.steps[-1]\n"
        "assert step.engine_for(services.defaults) == 'local', step\n"
        "print(sorted(m for m in ('rapidocr', 'onnxruntime', 'cv2', 'numpy') if m in sys.modules))\n"
    )
    aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **aws}
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


class SlowEngine:
    """An engine whose reads wait for `go`, counting how many run at once."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.running = 0
        self.most = 0
        self.reads = 0
        self._lock = threading.Lock()

    def __call__(self, image):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.go.wait(10)
            with self._lock:
                self.reads += 1
            return None  # RapidOCR's "no text"
        finally:
            with self._lock:
                self.running -= 1


class CountedMetrics(Metrics):
    def __init__(self) -> None:
        self.counts: list[tuple[str, dict]] = []
        self.stages: list[str] = []

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counts.append((name, labels))

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        self.stages.append(labels["stage"])


def start_reads(reader: LocalTextReader, count: int, *, apart: float = 0.0) -> tuple[list[threading.Thread], list[str]]:
    """count threads each reading one screenshot, started `apart` seconds apart; each outcome (the lines read, or
    why not) is appended, as a str, as it comes."""
    image = rendered_screenshot(DEPLOY)
    outcomes: list[str] = []

    def read() -> None:
        try:
            outcomes.append(str(reader.detect_text(image, 80.0)))
        except LocalReadFailed as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=read) for _ in range(count)]
    for thread in threads:
        thread.start()
        time.sleep(apart)
    return threads, outcomes


def test_reads_take_turns_and_one_past_its_deadline_or_its_turns_wait_gives_no_text():
    engine = SlowEngine()
    metrics = CountedMetrics()
    reader = LocalTextReader(
        reads_at_once=2, deadline_seconds=1.0, turn_wait_seconds=1.5, load=lambda threads: engine, metrics=metrics
    )
    threads, outcomes = start_reads(reader, 4, apart=0.05)  # in this order
    for thread in threads:
        thread.join(10)
    assert engine.most == 2  # never more reads at once than LABELBOT_TEXT_READS_AT_ONCE
    # The two reading ran out of time 1 s after they started; the two behind them never had a turn
    assert outcomes == ["no text read within 1 s"] * 2 + ["no turn to read within 1.5 s"] * 2
    engine.go.set()
    deadline = time.monotonic() + 5
    while engine.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.reads == 2  # the two that waited for a turn never started
    assert metrics.counts == [("local_text_reads", {"outcome": "late"})] * 4
    assert metrics.stages == ["local_text"] * 2  # each read that ran, not the waits
    reader.close()


def test_the_deadline_counts_from_a_reads_start_not_from_its_wait_for_a_turn():
    class Engine:
        def __call__(self, image):
            time.sleep(0.6)

    reader = LocalTextReader(deadline_seconds=1.0, load=lambda threads: Engine())
    threads, outcomes = start_reads(reader, 3)
    for thread in threads:
        thread.join(10)
    assert outcomes == ["()"] * 3  # the third waited 1.2 s for its turn, then read in 0.6 s: in time
    reader.close()


def test_closing_the_reader_wakes_the_reads_waiting_for_a_turn_and_refuses_new_ones():
    engine = SlowEngine()
    reader = LocalTextReader(load=lambda threads: engine)
    threads, outcomes = start_reads(reader, 2)
    while engine.running == 0:
        time.sleep(0.01)
    time.sleep(0.1)  # the second is waiting for its turn
    reader.close()
    threads[1].join(5)
    assert outcomes == ["the local text reader has stopped"]  # woken at once, not after the 300 s turn wait
    engine.go.set()
    threads[0].join(5)
    assert outcomes[1] == "()"  # the read that had its turn ends as it would have
    with pytest.raises(LocalReadFailed, match="has stopped"):
        reader.detect_text(rendered_screenshot(DEPLOY), 80.0)


def test_an_engine_that_fails_to_load_fails_the_read_and_the_next_read_tries_again():
    loads = []

    def load(threads):
        loads.append(threads)
        if len(loads) == 1:
            raise RuntimeError("onnxruntime: bad model")
        return lambda image: None

    reader = LocalTextReader(threads=3, load=load)
    with pytest.raises(LocalReadFailed, match="RuntimeError: onnxruntime: bad model"):
        reader.detect_text(rendered_screenshot(DEPLOY), 80.0)
    assert not reader.loaded
    assert reader.detect_text(rendered_screenshot(DEPLOY), 80.0) == ()
    assert loads == [3, 3] and reader.loaded
    reader.close()


class NoRekognition:
    def detect_text(self, image, min_confidence):
        raise AssertionError("DetectText asked where the local reader reads")


class Answers(dict):
    def cached(self, key, newer_than):
        return self.get(key)

    def cache(self, key, answer):
        self[key] = answer


def test_a_crashed_or_late_local_read_keeps_the_labels_and_is_not_cached():
    """As after a failed DetectText: the labels go out, the text failure is counted, and a re-post tries again."""
    engine = SlowEngine()
    reader = LocalTextReader(deadline_seconds=1.0, load=lambda threads: engine)
    answers = Answers()
    step = TextStep(NoRekognition(), answers, frozenset(), 80.0, engine="auto", local_reader=reader)
    labels = Analysis(labels=(Label("Text", 99.0),))

    answer = step.call(rendered_screenshot(DEPLOY), JAPANESE)

    assert answer is None and step.failures == 1
    assert step.add_to(labels, answer, JAPANESE) == Analysis(labels=labels.labels, text_failed=True)
    step.cache("key", answer)
    assert answers == {}
    engine.go.set()
    reader.close()


def test_the_engine_reads_japanese_channels_under_auto_and_its_answers_are_cached_apart(reader):
    answers = Answers()
    rekognition_reads = []

    class Rekognition:
        def detect_text(self, image, min_confidence):
            rekognition_reads.append(image)
            return ()

    step = TextStep(Rekognition(), answers, frozenset(), 80.0, engine="auto", local_reader=reader)
    analysis = ImageAnalysis([step])
    image = rendered_screenshot(MEETING)

    japanese = analysis.analyse(content_hash(image), lambda: image, JAPANESE)
    english = analysis.analyse(content_hash(image), lambda: image, ENGLISH)

    assert japanese.text.lines == (MEETING,) and japanese.calls == 0  # no Rekognition call
    assert english.text.lines == () and english.calls == 1 and len(rekognition_reads) == 1
    assert step.cache_params(JAPANESE) == ["text", 80.0, LOCAL_ENGINE]
    assert step.cache_params(ENGLISH) == ["text", 80.0]  # DetectText's answers cached before keep their key
    again = analysis.analyse(content_hash(image), lambda: pytest.fail("prepared again"), JAPANESE)
    assert again.text == japanese.text and len(answers) == 2


@pytest.mark.parametrize(("name", "size", "lines"), [("blank", (1280, 800), ()), ("50 MP", (8640, 5760), (DEPLOY,))])
def test_a_blank_and_a_50_mp_screenshot_are_read_at_most_2048_px_long(reader, name, size, lines):
    """A white 50 MP JPEG is small enough in bytes to go to Rekognition as it came (bot.images): the reader reads it
    scaled to 2048 px (a 150 MB picture otherwise), where its 120 px type is 28 px."""
    prepared = prepare_for_rekognition(rendered_screenshot(*lines, size=size, font_size=120, top=200, mode="L")).data
    assert readable_picture(prepared).size == ((2048, 1365) if name == "50 MP" else size)
    assert [line.text for line in reader.detect_text(prepared, 80.0)] == list(lines)


def test_a_tall_screenshot_is_read_in_strips_from_the_top_each_line_once(reader):
    """1080x20000: the pipeline's copy for reading (bot.images.reading_copy) is its first 9,000 rows at most 1,280 px
    wide, read in 1,600-row strips overlapping by 120: a line across two strips' edges is read once; one 15,000 rows
    down is past what the reply and the index use."""
    picture = Image.new("L", (1080, 20000), "white")
    draw, font = ImageDraw.Draw(picture), caption_font(28)
    for top, text in ((200, MEETING), (1525, DEPLOY), (4000, "途中の行です"), (15000, "ずっと下の行です")):
        draw.text((40, top), text, fill="#1e1e1e", font=font)
    source = io.BytesIO()
    picture.save(source, "JPEG", quality=90)
    prepared = prepare_for_rekognition(source.getvalue())
    assert (prepared.width, prepared.height) == (111, 2048)  # DetectText's view of it: no text left to read
    copy, part = reading_copy(source.getvalue())
    assert Image.open(io.BytesIO(copy)).size == (1080, 9000) and part == 0.45
    assert reading_copy(rendered_screenshot(MEETING)) is None  # not tall: the prepared image is read
    assert strips(9000)[:2] == [(0, 1600, 0, 1540), (1480, 3080, 1540, 3020)] and len(strips(9000)) == 6

    read = reader.detect_text(FramedImage(prepared.data, (), (copy, part)), 80.0)

    assert [line.text for line in read] == [MEETING, DEPLOY, "途中の行です"]
    # boxes as ratios of the whole image (Show where and the poster's safe copy draw them on the prepared one)
    assert all(abs(line.top * 20000 - drawn) <= 20 for line, drawn in zip(read, (200, 1525, 4000), strict=True))
    assert [line.id for line in read] == [1, 2, 3]


def test_a_worker_waiting_for_a_read_steps_aside_and_another_takes_the_next_image(tmp_path):
    store = open_sqlite_stores(tmp_path / "db")
    for number in range(3):
        store.queue.enqueue_message("C1", f"{number}.0", f"{number}.0", [{"id": f"F{number}"}])
    reading = threading.Event()
    read_done = threading.Event()
    done: list[str] = []

    def run_job(job) -> None:
        if job.file["id"] == "F0":  # a screenshot: its worker waits for the local reader
            with waiting_aside():
                reading.set()
                read_done.wait(10)
        done.append(job.file["id"])
        store.queue.finish_job(job.id, ImageResult(job.file["id"], "f"))

    pool = WorkerPool(store.queue, store.replies, run_job, lambda c, m: None, workers=1, poll_seconds=0.05)
    pool.start()
    try:
        assert reading.wait(5)
        deadline = time.monotonic() + 5
        while len(done) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert done == ["F1", "F2"]  # one worker, yet the photos behind the screenshot went on
        read_done.set()
        while len(done) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert done == ["F1", "F2", "F0"]
        alive = {thread.name for thread in pool._threads if thread.is_alive()}  # this pool's (the process has others)
        assert "labelbot-worker-r1" in alive and "labelbot-worker-0" not in alive
        threads = list(pool._threads)
    finally:
        pool.stop(timeout=5)
    assert not any(thread.is_alive() for thread in threads)


def test_a_pool_sends_at_most_max_aside_workers_aside(tmp_path, monkeypatch):
    monkeypatch.setattr("bot.jobs.MAX_ASIDE", 0)
    store = open_sqlite_stores(tmp_path / "db")
    store.queue.enqueue_message("C1", "1.0", "1.0", [{"id": "F0"}])
    done = threading.Event()

    def run_job(job) -> None:
        with waiting_aside():
            pass
        store.queue.finish_job(job.id, ImageResult(job.file["id"], "f"))
        done.set()

    pool = WorkerPool(store.queue, store.replies, run_job, lambda c, m: None, workers=1, poll_seconds=0.05)
    pool.start()
    try:
        assert done.wait(5)
        assert [thread.name for thread in pool._threads if thread.name.startswith("labelbot-worker")] == [
            "labelbot-worker-0"
        ]  # it waited in place: no replacement
    finally:
        pool.stop(timeout=5)


def test_waiting_aside_outside_a_pool_does_nothing():
    before = set(threading.enumerate())
    with waiting_aside():
        pass
    assert set(threading.enumerate()) <= before
