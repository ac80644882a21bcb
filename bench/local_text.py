"""The bot's own local text reader (bot/local_text.py: RapidOCR on ONNX Runtime) against issue 29's targets, measured
through the bot's code: its LocalTextReader, its build_services, and for the burst the real bot (`python -m bot http`:
Bolt, the labelling process and its workers) against the loopback fakes, as bench/burst.py runs it.

    .venv/bin/python -m bench.local_text                          # every part (3-5 minutes on 2 cores)
    .venv/bin/python -m bench.local_text --part read --runs 20    # one part (repeatable): read, memory, startup, burst
    .venv/bin/python -m bench.local_text --part burst --screenshots 8 --photos 8 --rounds 2 [--photo-channels 8]

The images are bench/ocr_candidates.py's (rendered once into the same directory, so every benchmark reads the same
pixels); "the set" is its four 1280x800 Japanese screenshots (chat, dialog, slide, receipt), each given to the reader
as the pipeline gives it (Pipeline._prepare, reading on): bot.images.prepare_for_rekognition(data).data, with a tall
screenshot's bot.images.reading_copy beside it (these PNGs are within Rekognition's limits and not tall, so that is the
posted PNG itself).

1. read: in a fresh process with the labelling process's environment (bot.labelling_process.MALLOC_ENVIRONMENT,
   ORT_DISABLE_TELEMETRY=1), one LocalTextReader() as the bot builds it by default (one read at a time, an ONNX
   Runtime thread per core, deadline 20 s). The first read (the dialog) includes loading the engine; then, per image,
   one warm-up and --runs timed detect_text calls (the call the text step makes: the turn on the reader's thread,
   decoding, the read), p50/p95 per image and over the set (nearest rank), and the characters read right (1 - CER
   after NFKC, ocr_candidates' scoring, of the lines the bot keeps at LABELBOT_TEXT_MIN_CONFIDENCE 80). The same
   again for each image as Slack's thumb_1024 (1024x640 JPEG, bench.burst.make_thumbs), which the bot downloads
   instead of the original when Slack has made it.
2. memory: in a fresh process (same environment), build_services for a Japanese workspace (LABELBOT_LANGUAGE=ja,
   store in a temporary SQLite file; the services built, not started), then the text step's own reader reads the set
   three times over; VmHWM (peak RSS since exec; ru_maxrss would start at this script's) and VmRSS before and after,
   then after the tall image (1080x4942, given as the pipeline gives it; the reader reads it in strips) too. Once
   with LABELBOT_TEXT_READS_AT_ONCE=1 (the default: 2 threads a read) and once with 2 (two threads reading at once, 1
   ONNX Runtime thread each).
3. startup: --startup-runs fresh processes per setting, alternating, each timing its imports (bot.config,
   bot.services), load_config and build_services as the labelling process starts (mode http, services not started),
   with LABELBOT_TEXT_ENGINE=auto and no Japanese channel (LABELBOT_LANGUAGE unset) against
   LABELBOT_TEXT_ENGINE=rekognition: medians of that time, of the whole process (interpreter start to exit, timed by
   this script) and of its VmHWM; and whether rapidocr, onnxruntime, cv2 or numpy were imported.
4. burst: the real bot, started afresh per scenario with the fakes of bench/burst.py (Slack's rate limits on;
   Rekognition's quota 5 calls a second per API, the bot's default LABELBOT_REKOGNITION_TPS and so its default 10
   workers) and LABELBOT_LANGUAGE=ja. --screenshots (8) distinct 1280x800 Japanese screenshots, the densest two (chat,
   30 lines; receipt, 25) in turn, each with a 4x4 px mark of its own, posted as PNGs without thumbnails (so the
   reader gets the 1280x800 image timed in part 1) into a channel with text "on"; then --photos (8) camera photos
   (bench.burst.make_photos, with Slack's thumbnails, which the bot downloads) into a channel set to English (text
   auto: DetectLabels only), or in turn into --photo-channels such channels (a channel replies once a second, which
   hides how soon each photo after its first was labelled; one photo a channel shows each photo's own wait). One
   event after the other from this process; each photo's latency runs from sending its event to the fake Slack
   answering the reply in its thread. DetectLabels takes 0.3-1.5 s as in bench/burst.py, but drawn once per image
   (seeded) rather than per call, so a photo waits the same in every scenario. Scenarios, each on a fresh bot and
   store: "alone" (the photos only), "labels only" (the screenshots too, text off in their channel: the same
   DetectLabels calls and downloads, no read), "cold" (text on: the reader loads during the burst) and "warm" (one
   read in a third channel first, replied to, then the burst).

Before each part the script waits (up to 4 minutes) for the 1-minute load average to fall under --max-load (1.5),
and prints `uptime` before and after it: a part that reads keeps both cores busy, so the load just after it is
mostly its own.

Offline: run as root, the command runs itself again in a network namespace of its own where only loopback is up
(`unshare --net`), so the bot's processes reach nothing but the fakes. Every process of this script also refuses
sockets itself (the workers of parts 1-3 any connection, as bench/ocr_candidates.py's worker; the burst's driver
anything but loopback) and reports the attempts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# Only the standard library at the top, and these two (standard library only): the start-up worker times the bot's
# imports, so this module must not import them first.
from bench.ocr_candidates import SCREENSHOTS_JA, _ensure_images, _refuse_network, accuracy, score
from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = Path(tempfile.gettempdir()) / "labelbot-ocr-images"  # bench/ocr_candidates.py's default
MIN_CONFIDENCE = 80.0  # LABELBOT_TEXT_MIN_CONFIDENCE's default: the lines the bot keeps
FIRST_READ = "dialog"  # the first read in a fresh process, as in bench/ocr_candidates.py
HEAVY_MODULES = ("rapidocr", "onnxruntime", "cv2", "numpy")  # what the local reader brings in
NETNS_FLAG = "LABELBOT_BENCH_OWN_NETWORK"  # set once this command runs in its own network namespace
# The burst
QUOTA = 5  # Rekognition calls a second per API in the fake; the bot's LABELBOT_REKOGNITION_TPS default
LATENCY = (0.3, 1.5)  # DetectLabels seconds, as bench/burst.py's default
BURST_SHOTS = ("chat", "receipt")  # the densest Japanese screenshots (30 and 25 lines), in turn
SHOTS_CHANNEL, WARM_CHANNEL = "C0SHOTS", "C0WARMUP"
PHOTOS_CHANNEL = "C0PHOTOS{}"  # photo i goes to PHOTOS_CHANNEL.format(i % --photo-channels)
SCENARIOS = ("alone", "labels only", "cold", "warm")


# ---- shared -------------------------------------------------------------------------------------------------------
def _status_mb(name: str) -> float:
    """A VmHWM / VmRSS line of /proc/self/status, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _table_head(*columns: str) -> None:
    """A markdown table's first two lines."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def _settle(max_load: float, patience: float = 240.0) -> None:
    """Wait (up to `patience` seconds) for the 1-minute load average to fall under max_load: a part that reads keeps
    both cores busy, and leaves the next one a load average near 2 that is its own."""
    deadline = time.monotonic() + patience
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(5)
    if os.getloadavg()[0] >= max_load:
        print(f"(the load average stayed over {max_load} for {patience:.0f} s: the figures below carry it)")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S607


def _config_environment(tmp: str, **extra: str) -> dict[str, str]:
    """What the bot needs to build its services offline: a store in tmp, Slack and Rekognition at unused loopback
    addresses (building calls neither)."""
    return {
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": "bench-signing-secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "LABELBOT_DB": f"{tmp}/bench.sqlite3",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_REKOGNITION": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": f"{tmp}/no-aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": f"{tmp}/no-aws-credentials",
        **extra,
    }


def _worker_environment() -> dict[str, str]:
    """The labelling process's environment (bot.labelling_process starts it with MALLOC_ENVIRONMENT under ours) and
    run.sh's ORT_DISABLE_TELEMETRY, without LABELBOT_* or AWS settings of this shell."""
    from bot.labelling_process import MALLOC_ENVIRONMENT

    own = {k: v for k, v in os.environ.items() if not k.startswith(("LABELBOT_", "AWS_", "SLACK_"))}
    return {**MALLOC_ENVIRONMENT, **own, "ORT_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(ROOT)}


def _run_worker(*args: str) -> tuple[dict, float]:
    """`python -m bench.local_text worker ARGS` in a fresh process: its JSON answer, and its wall time."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 (this interpreter, this module)
        [sys.executable, "-m", "bench.local_text", "worker", *args],
        capture_output=True,
        text=True,
        env=_worker_environment(),
        cwd=ROOT,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"worker {args} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def _given_to_reader(data: bytes) -> bytes:
    """What the text step gets for these downloaded bytes, as the pipeline makes it (Pipeline._prepare with reading
    on): the prepared image, and for a tall screenshot its copy for reading beside it (bot.images.FramedImage)."""
    from bot.images import FramedImage, prepare_for_rekognition, reading_copy

    prepared, copy = prepare_for_rekognition(data).data, reading_copy(data)
    return FramedImage(prepared, (), copy) if copy else prepared


def _as_lines(detections, width: int, height: int) -> list[dict]:
    """The reader's LINE detections (boxes as ratios) as ocr_candidates' scoring takes them (pixels)."""
    return [
        {
            "text": line.text,
            "box": [
                line.left * width,
                line.top * height,
                (line.left + line.width) * width,
                (line.top + line.height) * height,
            ],
        }
        for line in detections
    ]


# ---- 1. read time (worker) ------------------------------------------------------------------------------------------
def read_worker(runs: str) -> dict:
    attempts = _refuse_network()
    import logging

    from bench.burst import make_thumbs
    from bot.images import prepare_for_rekognition
    from bot.local_text import LocalTextReader

    loaded: list[float] = []  # the reader's own "loaded ... in %.1f s" line

    class LoadLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("loaded the local text reader"):
                loaded.append(float(record.args[-1]))

    logger = logging.getLogger("bot.local_text")
    logger.setLevel(logging.INFO)
    logger.addHandler(LoadLine())
    manifest = json.loads((IMAGES_DIR / "manifest.json").read_text(encoding="utf-8"))
    originals = {name: (IMAGES_DIR / f"{name}.png").read_bytes() for name in SCREENSHOTS_JA}
    variants = {
        "original": {name: prepare_for_rekognition(data) for name, data in originals.items()},
        "thumb_1024": {name: prepare_for_rekognition(make_thumbs(data)[1024][0]) for name, data in originals.items()},
    }
    reader = LocalTextReader()
    started = time.perf_counter()
    reader.detect_text(_given_to_reader(originals[FIRST_READ]), MIN_CONFIDENCE)
    first_read_s = time.perf_counter() - started
    out: dict = {"first_read_s": first_read_s, "load_s": loaded[0] if loaded else None, "images": {}}
    for variant, prepared in variants.items():
        for name, image in prepared.items():
            width, height = manifest[name]["size"]
            given = _given_to_reader(originals[name]) if variant == "original" else image.data  # a thumb isn't tall
            lines = reader.detect_text(given, MIN_CONFIDENCE)  # the warm-up; scored
            seconds = []
            for _ in range(int(runs)):
                started = time.perf_counter()
                reader.detect_text(given, MIN_CONFIDENCE)
                seconds.append(time.perf_counter() - started)
            counts = score(manifest[name]["lines"], _as_lines(lines, width, height), nfkc=True)
            out["images"].setdefault(variant, {})[name] = {
                "input": f"{image.format} {image.width}x{image.height}, {len(image.data) / 1024:.0f} KB",
                "lines": len(lines),
                "accuracy": accuracy([counts]),
                "accuracy_ja": accuracy([counts], ("ja",)),
                "seconds": seconds,
            }
    reader.close()
    out["network_attempts"] = len(attempts)
    out["cpus"] = os.cpu_count()
    return out


# ---- 2. memory (worker) -------------------------------------------------------------------------------------------
def memory_worker(reads_at_once: str, rounds: str) -> dict:
    attempts = _refuse_network()
    from bot.config import load_config
    from bot.services import build_services

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(_config_environment(tmp, LABELBOT_LANGUAGE="ja", LABELBOT_TEXT_READS_AT_ONCE=reads_at_once))
        services = build_services(load_config(mode="http"))
        [text_step] = [step for step in services.pipeline.analysis.steps if step.name == "text"]
        reader = text_step._local_reader  # the reader the bot built from its configuration
        built = {"hwm": _status_mb("VmHWM"), "rss": _status_mb("VmRSS")}
        loaded_before = [name for name in HEAVY_MODULES if name in sys.modules]
        images = [_given_to_reader((IMAGES_DIR / f"{name}.png").read_bytes()) for name in SCREENSHOTS_JA]

        def read_set() -> None:
            for _ in range(int(rounds)):
                for image in images:
                    reader.detect_text(image, MIN_CONFIDENCE)

        started = time.perf_counter()
        threads = [threading.Thread(target=read_set) for _ in range(int(reads_at_once))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        after = {"hwm": _status_mb("VmHWM"), "rss": _status_mb("VmRSS")}
        reader.detect_text(_given_to_reader((IMAGES_DIR / "tall.png").read_bytes()), MIN_CONFIDENCE)
        after_tall = {"hwm": _status_mb("VmHWM"), "rss": _status_mb("VmRSS")}
        reader.close()
        services.stores.close()
    return {
        "reads_at_once": int(reads_at_once),
        "threads_a_read": reader._threads,  # ONNX Runtime's, as the reader chose them
        "reads": int(rounds) * len(images) * int(reads_at_once),
        "seconds": elapsed,
        "built": built,
        "after_set": after,
        "after_tall": after_tall,
        "heavy_modules_before_reading": loaded_before,
        "network_attempts": len(attempts),
    }


# ---- 3. start-up (worker) -----------------------------------------------------------------------------------------
def startup_worker(engine: str) -> dict:
    started = time.perf_counter()
    attempts = _refuse_network()
    from bot.config import load_config
    from bot.services import build_services

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(_config_environment(tmp, LABELBOT_TEXT_ENGINE=engine))
        services = build_services(load_config(mode="http"))
        seconds = time.perf_counter() - started
        [text_step] = [step for step in services.pipeline.analysis.steps if step.name == "text"]
        out = {
            "engine": engine,
            "seconds": seconds,
            "hwm": _status_mb("VmHWM"),
            "rss": _status_mb("VmRSS"),
            "text_engine": services.text_engine,
            "local_reader_built": text_step._local_reader is not None,
            "heavy_modules": [name for name in HEAVY_MODULES if name in sys.modules],
            "network_attempts": len(attempts),
        }
        services.stores.close()
    return out


WORKERS = {"read": read_worker, "memory": memory_worker, "startup": startup_worker}


# ---- the parts, run from here -------------------------------------------------------------------------------------
def _s(value: float) -> str:
    return f"{value:.2f} s"


def part_read(args: argparse.Namespace) -> dict:
    measured, _ = _run_worker("read", str(args.runs))
    print(
        f"\nread: {args.runs} timed reads an image after a warm-up; fresh process: load + first read ({FIRST_READ}) "
        f"{_s(measured['first_read_s'])} (of which the engine's load {measured['load_s']:.1f} s, as the reader "
        f"logs it); {measured['cpus']} cores; network attempts {measured['network_attempts']}\n"
    )
    _table_head("input", "image", "given to the reader", "lines kept", "characters right (ja)", "p50", "p95")
    for variant, images in measured["images"].items():
        every = []
        for name, image in images.items():
            every += image["seconds"]
            print(
                f"| {variant} | {name} | {image['input']} | {image['lines']} | {100 * image['accuracy']:.1f} % "
                f"({100 * image['accuracy_ja']:.1f} %) | {_s(percentile(image['seconds'], 0.5))} | "
                f"{_s(percentile(image['seconds'], 0.95))} |"
            )
        print(
            f"| {variant} | **the set** | | | | **{_s(percentile(every, 0.5))}** | **{_s(percentile(every, 0.95))}** |"
        )
    return measured


def part_memory(args: argparse.Namespace) -> dict:
    results = [_run_worker("memory", str(n), "3")[0] for n in (1, 2)]
    print("\nmemory: a fresh process that built the bot's services (LABELBOT_LANGUAGE=ja), then read the set 3 times")
    print("(each reading thread); VmHWM = peak RSS since exec, VmRSS = resident now\n")
    _table_head(
        "reads at once",
        "threads a read",
        "built: VmHWM / VmRSS",
        "after the set: VmHWM / VmRSS",
        "**peak over the bot built**",
        "resident after, over built",
        "+ tall: peak over built",
        "reads in",
    )
    for r in results:
        b, a, t = r["built"], r["after_set"], r["after_tall"]
        print(
            f"| {r['reads_at_once']} | {r['threads_a_read']} | {b['hwm']:.0f} / {b['rss']:.0f} MB | "
            f"{a['hwm']:.0f} / {a['rss']:.0f} MB | **+{a['hwm'] - b['hwm']:.0f} MB** | +{a['rss'] - b['rss']:.0f} MB | "
            f"+{t['hwm'] - b['hwm']:.0f} MB | {r['reads']} reads, {_s(r['seconds'])} |"
        )
    print(
        f"heavy modules before the first read: {results[0]['heavy_modules_before_reading'] or 'none'}; "
        f"network attempts {sum(r['network_attempts'] for r in results)}"
    )
    return {"results": results}


def part_startup(args: argparse.Namespace) -> dict:
    runs: dict[str, list[tuple[dict, float]]] = {"auto": [], "rekognition": []}
    for _ in range(args.startup_runs):
        for engine in runs:
            runs[engine].append(_run_worker("startup", engine))
    print(f"\nstart-up: {args.startup_runs} fresh processes each, alternating; medians\n")
    _table_head(
        "LABELBOT_TEXT_ENGINE",
        "as it works",
        "local reader built",
        "imports + load_config + build_services",
        "whole process",
        "VmHWM",
        "imported of rapidocr, onnxruntime, cv2, numpy",
    )
    for engine, done in runs.items():
        answers = [answer for answer, _ in done]
        print(
            f"| {engine} | {answers[0]['text_engine']} | {answers[0]['local_reader_built']} | "
            f"{1000 * statistics.median(a['seconds'] for a in answers):.0f} ms "
            f"({1000 * min(a['seconds'] for a in answers):.0f}–{1000 * max(a['seconds'] for a in answers):.0f}) | "
            f"{1000 * statistics.median(wall for _, wall in done):.0f} ms | "
            f"{statistics.median(a['hwm'] for a in answers):.1f} MB | "
            f"{sorted({m for a in answers for m in a['heavy_modules']}) or 'none'} |"
        )
    return {engine: [{**answer, "wall": wall} for answer, wall in done] for engine, done in runs.items()}


# ---- 4. the burst -------------------------------------------------------------------------------------------------
@dataclass
class BurstInputs:
    shots: list[bytes]  # PNG screenshots, each with its own mark
    warmup: bytes  # the warm scenario's first read (a marked dialog)
    photos: list[bytes]
    thumbs: list[dict[int, tuple[bytes, int, int]]]
    latency: dict[bytes, float]  # the bytes DetectLabels is sent -> its latency


@dataclass
class ScenarioResult:
    scenario: str
    photos_s: list[float] = field(default_factory=list)  # event to reply, in posting order
    shots_s: list[float] = field(default_factory=list)
    acks_ms: list[float] = field(default_factory=list)
    shots_with_text: int = 0
    photos_with_text: int = 0
    detect_text_calls: int = 0
    calls_without_latency: int = 0  # DetectLabels calls whose image had no latency drawn (should be 0)
    throttled: int = 0
    slack_429s: int = 0
    load_s: float | None = None  # the reader's load, as the labelling process logged it
    shot_detect_ms: list[float] = field(default_factory=list)  # screenshot jobs' detect_ms: labels + wait + read
    rss_mb: dict[str, float] = field(default_factory=dict)
    load_average: str = ""


def _marked(png: bytes, index: int) -> bytes:
    """The screenshot with a 4x4 px mark of its own in the bottom-right corner: other bytes, the same text."""
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(png)) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    ImageDraw.Draw(image).rectangle(
        (width - 6, height - 6, width - 3, height - 3), fill=(index * 37 % 256, index * 91 % 256, 128)
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def burst_inputs(screenshots: int, photos: int, seed: int) -> BurstInputs:
    from bench.burst import make_photos, make_thumbs
    from bot.images import prepare_for_rekognition

    pngs = {name: (IMAGES_DIR / f"{name}.png").read_bytes() for name in (*BURST_SHOTS, "dialog")}
    shots = [_marked(pngs[BURST_SHOTS[i % len(BURST_SHOTS)]], i) for i in range(screenshots)]
    warmup = _marked(pngs["dialog"], 255)
    pictures = make_photos(photos, seed=seed)
    thumbs = [make_thumbs(picture) for picture in pictures]
    rng = random.Random(seed)
    sent = [thumb[1024][0] for thumb in thumbs] + shots + [warmup]  # what the bot downloads: thumb_1024, the PNGs
    latency = {prepare_for_rekognition(data).data: rng.uniform(*LATENCY) for data in sent}
    return BurstInputs(shots, warmup, pictures, thumbs, latency)


def run_scenario(scenario: str, inputs: BurstInputs, photo_channels: int = 1) -> ScenarioResult:
    from bench.burst import _wait_until_done, server_peak_rss_mb, start_server
    from bot.settings import ChannelOverrides
    from bot.store.sqlite import open_sqlite_stores
    from tests.fakes.rekognition import FakeRekognition
    from tests.fakes.slack import FakeSlack
    from tests.fakes.slack_rate_limits import SlackRateLimits, rate_limited_by_method
    from tests.slack_requests import SIGNING_SECRET, file_share_event, post_event

    result = ScenarioResult(scenario, load_average=" ".join(f"{x:.2f}" for x in os.getloadavg()))
    slack, rekognition = FakeSlack(), FakeRekognition()
    slack.rate_limits = SlackRateLimits()
    rekognition.tps_quota = QUOTA
    rekognition.image_delays = dict(inputs.latency)  # per image, the same in every scenario
    lock = threading.Lock()
    replies: dict[tuple[str, str], list[tuple[float, bool]]] = {}

    def on_answer(method: str, args: dict) -> None:
        if method == "chat.postMessage":
            with lock:
                replies.setdefault((args.get("channel"), args.get("thread_ts")), []).append(
                    (time.perf_counter(), ":memo:" in json.dumps(args.get("blocks") or []))
                )

    slack.on_answer = on_answer
    shots = [] if scenario == "alone" else inputs.shots
    events = [
        (SHOTS_CHANNEL, slack.add_file(f"FS{i:03d}", shot, f"screenshot-{i}.png", "image/png", "png"))
        for i, shot in enumerate(shots)
    ] + [
        (
            PHOTOS_CHANNEL.format(i % photo_channels),
            slack.add_file(f"FP{i:03d}", photo, f"IMG_{i:04d}.jpg", "image/jpeg", "jpg", thumbs=thumbs),
        )
        for i, (photo, thumbs) in enumerate(zip(inputs.photos, inputs.thumbs, strict=True))
    ]
    sent: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "LABELBOT_"))},
            **_config_environment(tmp, LABELBOT_LANGUAGE="ja"),
            "SLACK_BOT_TOKEN": "xoxb-test-token",  # the token the fake Slack accepts
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "AWS_ENDPOINT_URL_REKOGNITION": rekognition.url,
        }
        stores = open_sqlite_stores(env["LABELBOT_DB"], exclusive=False)  # what /labels text and language save
        try:
            reading = scenario in ("cold", "warm")
            stores.settings.save_overrides(SHOTS_CHANNEL, ChannelOverrides(text="on" if reading else "off"))
            stores.settings.save_overrides(WARM_CHANNEL, ChannelOverrides(text="on"))
            for index in range(photo_channels):
                stores.settings.save_overrides(PHOTOS_CHANNEL.format(index), ChannelOverrides(language="en"))
        finally:
            stores.close()
        with open(f"{tmp}/server.log", "wb") as log:
            try:
                child, url = start_server("bot", env, log, tmp)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}: {Path(tmp, 'server.log').read_text()[-3000:]}") from None
        try:
            events_url = url + "/slack/events"

            def answered(keys) -> int:
                with lock:
                    return sum(1 for key in keys if replies.get(key))

            if scenario == "warm":  # one read, in a channel of its own (the burst's turns stay as in "cold")
                warm = file_share_event(
                    WARM_CHANNEL, [slack.add_file("FW000", inputs.warmup, "warm.png", "image/png", "png")]
                )
                post_event(events_url, warm, event_id="EvWARM")
                key = (WARM_CHANNEL, warm["ts"])
                _wait_until_done(lambda: answered([key]), 1, time.monotonic() + 120, 60)
                time.sleep(2.0)  # its reply's sweep and the reader's thread settle
            result.load_average = " ".join(f"{x:.2f}" for x in os.getloadavg())
            for index, (channel, file) in enumerate(events):
                event = file_share_event(channel, [file])
                sent[(channel, event["ts"])] = time.perf_counter()
                answer = post_event(events_url, event, event_id=f"EvLOCAL{index:04d}")
                result.acks_ms.append(answer.seconds * 1000)
            _wait_until_done(lambda: answered(sent), len(sent), time.monotonic() + 300, 60)
            time.sleep(0.5)
            result.rss_mb = server_peak_rss_mb(child.pid)
            child.terminate()
            child.wait(30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        server_log = Path(tmp, "server.log").read_text(errors="replace")
    slack.close()
    rekognition.close()

    with lock:
        for (channel, ts), at in sent.items():
            got = replies.get((channel, ts))
            if not got:
                continue
            if channel != SHOTS_CHANNEL:
                result.photos_s.append(got[0][0] - at)
                result.photos_with_text += got[0][1]
            else:
                result.shots_s.append(got[0][0] - at)
                result.shots_with_text += got[0][1]
    result.detect_text_calls = len(rekognition.calls_to("DetectText"))
    result.calls_without_latency = sum(1 for call in rekognition.calls if call.image not in inputs.latency)
    result.throttled = rekognition.throttled
    result.slack_429s = sum(rate_limited_by_method(slack.calls).values())
    for line in server_log.splitlines():
        found = re.search(r"loaded the local text reader .* in ([0-9.]+) s", line)
        if found:
            result.load_s = float(found.group(1))
        fields = dict(re.findall(r"(\w+)=(\S+)", line)) if " job " in line else {}
        if fields.get("channel") == SHOTS_CHANNEL and fields.get("detect_ms", "-") != "-":
            result.shot_detect_ms.append(float(fields["detect_ms"]))
    missing = len(sent) - len(result.photos_s) - len(result.shots_s)
    if missing:
        print(f"  {scenario}: {missing} event(s) got no reply; server log tail:\n{server_log[-3000:]}", file=sys.stderr)
    return result


def part_burst(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    inputs = burst_inputs(args.screenshots, args.photos, args.seed)
    print(
        f"\nburst: {args.screenshots} screenshots ({' / '.join(BURST_SHOTS)} in turn, 1280x800 PNG, text on) then "
        f"{args.photos} photos (12 MP, thumb_1024 downloaded, {args.photo_channels} English channel(s), DetectLabels "
        f"only); fake Rekognition quota {QUOTA}/s per API, DetectLabels {LATENCY[0]}–{LATENCY[1]} s per image "
        f"(seeded); inputs made in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    rounds = []
    for number in range(args.rounds):
        results = {}
        for scenario in SCENARIOS:
            results[scenario] = run_scenario(scenario, inputs, args.photo_channels)
            print(
                f"  round {number + 1}, {scenario}: load average at the burst {results[scenario].load_average}",
                file=sys.stderr,
                flush=True,
            )
        rounds.append(results)
        _print_burst(number + 1, results)
    return {"rounds": [{name: vars(r) for name, r in results.items()} for results in rounds]}


def _print_burst(number: int, results: dict[str, ScenarioResult]) -> None:
    alone = results["alone"].photos_s
    print(f"\nround {number}: each photo's event to reply (s), and over its latency alone\n")
    _table_head("photo", "alone", *(f"{name} (Δ)" for name in SCENARIOS[1:]))
    for index, base in enumerate(alone):
        cells = []
        for name in SCENARIOS[1:]:
            mine = results[name].photos_s
            cells.append(f"{mine[index]:.2f} ({mine[index] - base:+.2f})" if index < len(mine) else "–")
        print(f"| {index + 1} | {base:.2f} | " + " | ".join(cells) + " |")
    print()
    _table_head(
        "scenario",
        "load avg at the burst",
        "photos' Δ max / mean",
        "Δ over labels only, max / mean",
        "photos: last reply",
        "screenshots: first / last reply",
        "screenshots with text · photos with text",
        "DetectText calls",
        "reader load (log)",
        "screenshot jobs' detect_ms p50 / max",
        "ack p50 / max",
        "throttled · Slack 429s",
        "peak RSS: labelling · acks · arbiter",
    )
    for name, r in results.items():
        deltas = [mine - base for mine, base in zip(r.photos_s, alone, strict=False)]
        over = [mine - base for mine, base in zip(r.photos_s, results["labels only"].photos_s, strict=False)]
        reads = f"{max(over):+.2f} / {statistics.mean(over):+.2f} s" if name in ("cold", "warm") else "–"
        shots = f"{min(r.shots_s):.2f} / {max(r.shots_s):.2f} s" if r.shots_s else "–"
        detect = (
            f"{percentile(r.shot_detect_ms, 0.5) / 1000:.2f} / {max(r.shot_detect_ms) / 1000:.2f} s"
            if r.shot_detect_ms
            else "–"
        )
        rss = " · ".join(f"{r.rss_mb.get(role, float('nan')):.0f}" for role in ("labelling", "acks", "arbiter"))
        print(
            f"| {name} | {r.load_average} | {max(deltas):+.2f} / {statistics.mean(deltas):+.2f} s | {reads} | "
            f"{max(r.photos_s):.2f} s | {shots} | {r.shots_with_text} · {r.photos_with_text} | {r.detect_text_calls} | "
            f"{'–' if r.load_s is None else f'{r.load_s:.1f} s'} | {detect} | "
            f"{percentile(r.acks_ms, 0.5):.0f} / {max(r.acks_ms):.0f} ms | {r.throttled} · {r.slack_429s} | {rss} MB |"
        )
    strays = sum(r.calls_without_latency for r in results.values())
    if strays:
        print(f"({strays} DetectLabels call(s) were for an image without a drawn latency: answered at once)")


# ---- offline ------------------------------------------------------------------------------------------------------
def _own_network_namespace() -> None:
    """As root, run this command again in a network namespace of its own with only loopback up (`unshare --net`): the
    bot's processes in the burst are then offline too. Returns where that can't be done (or is done already)."""
    if os.environ.get(NETNS_FLAG) or os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("ip")):
        return
    if subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode:  # noqa: S607
        return
    os.environ[NETNS_FLAG] = "1"
    command = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    os.execv(shutil.which("unshare"), [*command, sys.executable, "-m", "bench.local_text", *sys.argv[1:]])  # noqa: S606


def _loopback_only() -> list[str]:
    """This process connects to loopback only (the fakes, the bot); anything else fails and is recorded."""
    import socket

    attempts: list[str] = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    local = ("127.0.0.1", "::1", "localhost")

    def allowed(address) -> bool:
        return not isinstance(address, tuple) or address[0] in local  # an AF_UNIX path, or loopback

    def guarded_connect(self, address):
        if not allowed(address):
            attempts.append(repr(address)[:200])
            raise OSError("network refused by bench/local_text.py")
        return connect(self, address)

    def guarded_connect_ex(self, address):
        if not allowed(address):
            attempts.append(repr(address)[:200])
            raise OSError("network refused by bench/local_text.py")
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in (None, *local):
            attempts.append(repr(host)[:200])
            raise socket.gaierror("network refused by bench/local_text.py")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]
    return attempts


PARTS = {"read": part_read, "memory": part_memory, "startup": part_startup, "burst": part_burst}


def main() -> None:
    if sys.argv[1:2] == ["worker"]:
        print(json.dumps(WORKERS[sys.argv[2]](*sys.argv[3:])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", action="append", choices=list(PARTS), help="a part to run (repeatable; default all)")
    parser.add_argument("--runs", type=int, default=10, help="timed reads per image, after one warm-up")
    parser.add_argument("--startup-runs", type=int, default=5, help="fresh processes per LABELBOT_TEXT_ENGINE")
    parser.add_argument("--screenshots", type=int, default=8, help="the burst's screenshots")
    parser.add_argument("--photos", type=int, default=8, help="the photos posted behind them")
    parser.add_argument(
        "--photo-channels", type=int, default=1, help="channels the photos go to in turn (1: one reply a second)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="the burst's four scenarios, this many times")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-load", type=float, default=1.5, help="before each part, wait for the 1-minute load average under this"
    )
    parser.add_argument("--json-out", help="also write every figure as JSON to this file")
    args = parser.parse_args()
    _own_network_namespace()
    attempts = _loopback_only()
    _ensure_images(IMAGES_DIR)
    import platform
    from importlib.metadata import version

    print(
        f"bench/local_text.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, rapidocr {version('rapidocr')}, onnxruntime {version('onnxruntime')}; "
        f"network: {'own namespace, loopback only' if os.environ.get(NETNS_FLAG) else 'sockets refused in-process'}"
    )
    figures = {}
    for name in args.part or list(PARTS):
        _settle(args.max_load)
        print(f"\n## {name}\nbefore: {_uptime()}", flush=True)
        figures[name] = {"uptime_before": _uptime(), **PARTS[name](args)}
        figures[name]["uptime_after"] = _uptime()
        print(f"after: {figures[name]['uptime_after']}", flush=True)
    print(f"\nnon-loopback connections attempted by this process: {len(attempts)}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
