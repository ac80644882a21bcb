"""A burst of images across channels against Rekognition's TPS quota and Slack's per-channel post rate: the real
bot beside the straightforward design (bench/burst_baseline.py), driven the same way.

    .venv/bin/python -m bench.burst                       # 200 photos of 12 MP, 20 channels, quotas 5 and 50
    .venv/bin/python -m bench.burst --images 40 --quota 5 # smaller

The fakes (tests/fakes) run in this process, the 20 sender threads in a process of their own, and each design's server
in its own: the bot as in production (`python -m bot http`, gunicorn), the baseline as `python -m bench.burst serve
baseline`; so a server's peak RSS (VmHWM, each of its processes) is its own alone.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import hashlib
import io
import json
import multiprocessing
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from bench.stats import percentile
from bot.emoji_tags import EmojiMap
from bot.render import HELD_LINE, Label
from bot.settings import ChannelOverrides
from bot.store.sqlite import open_sqlite_stores
from tests.fakes.rekognition import FakeRekognition
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_rate_limits import SlackRateLimits, early_retries, rate_limited_by_method
from tests.slack_requests import SIGNING_SECRET, file_share_event, post_event

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SLACK_ACK_LIMIT = 3.0  # seconds: a slower ack makes Slack send the event again
BUSY_WORDS = ("busy", "throttl")  # a reply with one of these is a throttling error seen by a user
# With --tags, DetectLabels answers this for every photo: three labels with an emoji each (:dog: :pizza: :computer:).
TAGGED_LABELS = [
    {"Name": "Dog", "Confidence": 97.5, "Parents": [{"Name": "Animal"}, {"Name": "Pet"}]},
    {"Name": "Pizza", "Confidence": 95.2, "Parents": [{"Name": "Food"}]},
    {"Name": "Laptop", "Confidence": 90.3, "Parents": [{"Name": "Computer"}, {"Name": "Electronics"}]},
]
BOT_THRESHOLD = 75.0  # the bot's default LABELBOT_MIN_CONFIDENCE, which the emoji are chosen over
# reactions.add is Tier 3 (50 a minute): past that its 429s ask for up to a minute, so the reactions' idle is longer.
REACTIONS_IDLE_SECONDS = 90.0
# With --moderation: DetectModerationLabels runs first in every channel (LABELBOT_MODERATION=on), its notices go to this
# channel (the fake Slack's channels have the bot as a member), and it finds this in one photo of --flagged.
MODERATION_CHANNEL = "CMODQUEUE"
FLAGGED_LABELS = [{"Name": "Violence", "Confidence": 93.1, "ParentName": "", "TaxonomyLevel": 1}]
# With --text: DetectText runs after the labels of every image (LABELBOT_TEXT=on) and reads these lines in each.
SCREEN_TEXT = [
    ("Deploy failed: connection refused", 99.1, (0.05, 0.10, 0.70, 0.05)),
    ("retry in 30 s or page the on-call", 96.4, (0.05, 0.20, 0.70, 0.05)),
]


# ---- photos ----------------------------------------------------------------------------------------------------
def make_photos(distinct: int, megapixels: float = 12.0, seed: int = 0) -> list[bytes]:
    """`distinct` JPEG photos of about `megapixels` (4:3) from the fixtures, with a photo's noise (so they weigh
    what a camera's do) and a mark that makes each one's pixels unique."""
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    rng = random.Random(seed)
    bases = []
    for name in ("cat.jpg", "coffee.jpg", "rocket.jpg", "logo_alpha.png"):
        with Image.open(FIXTURES / name) as source:
            rgba = source.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        big = flat.resize((width, height), Image.Resampling.BICUBIC)
        noise = Image.effect_noise((width, height), 40).convert("RGB")
        bases.append(Image.blend(big, noise, 0.15))
    photos = []
    for index in range(distinct):
        image = bases[index % len(bases)].copy()
        draw = ImageDraw.Draw(image)
        x, y = rng.randrange(width - width // 10), rng.randrange(height - height // 10)
        draw.rectangle((x, y, x + width // 10, y + height // 10), fill=(index * 37 % 256, index * 91 % 256, 128))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=92)
        photos.append(out.getvalue())
    return photos


# Slack's thumb_N of a photo: the whole image scaled to a long side of N (never up), JPEG; its file object names
# each with thumb_N_w and thumb_N_h. The bot downloads thumb_1024 (bot.pipeline.thumbnail_url); the others are there
# because Slack sends them too.
SLACK_THUMB_SIZES = (360, 480, 720, 800, 960, 1024)
SLACK_THUMB_QUALITY = 85


def make_thumbs(photo: bytes) -> dict[int, tuple[bytes, int, int]]:
    """Slack's thumbnails of one photo, as FakeSlack.add_file's `thumbs`: {N: (JPEG, width, height)}."""
    thumbs = {}
    with Image.open(io.BytesIO(photo)) as source:
        width, height = source.size
        source.draft("RGB", (max(SLACK_THUMB_SIZES), max(SLACK_THUMB_SIZES)))  # DCT-scaled decode, >= 1024 a side
        image = source.convert("RGB")
    for size in SLACK_THUMB_SIZES:
        if max(width, height) <= size:
            continue
        scale = size / max(width, height)
        dimensions = (max(1, round(width * scale)), max(1, round(height * scale)))
        out = io.BytesIO()
        image.resize(dimensions, Image.Resampling.LANCZOS).save(out, "JPEG", quality=SLACK_THUMB_QUALITY)
        thumbs[size] = (out.getvalue(), *dimensions)
    return thumbs


# ---- the designs' servers, each in its own process ---------------------------------------------------------------
LISTEN_BACKLOG = 2048  # gunicorn's default; socketserver's 5 would drop the SYNs of a burst (a 1 s retransmit each)


def serve_baseline() -> None:
    """The baseline's HTTP server (Bolt's WSGI adapter on a thread-per-request server): print its URL, then serve
    until stdin closes."""
    from wsgiref.simple_server import make_server

    from slack_bolt.adapter.wsgi import SlackRequestHandler

    from bench.burst_baseline import build_baseline_app
    from bot.config import load_config
    from bot.logs import configure_logging
    from tests.harness import _QuietHandler, _ThreadingWSGIServer

    class Server(_ThreadingWSGIServer):
        request_queue_size = LISTEN_BACKLOG

    config = load_config(dict(os.environ), mode="http")
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))  # to the server log file, as the bot logs in production
    server = make_server(
        "127.0.0.1",
        0,
        SlackRequestHandler(build_baseline_app(config)),
        server_class=Server,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    print(json.dumps({"url": f"http://127.0.0.1:{server.server_port}"}), flush=True)
    sys.stdin.read()
    server.shutdown()
    server.server_close()


def start_server(
    design: str, env: dict[str, str], log, cwd: str, cpus: set[int] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start a design's server; returns the process and its base URL once it answers. The bot runs as in production,
    `python -m bot http` (gunicorn: one worker process, its threads, the worker pool and SQLite in it)."""
    env = {**env, "PYTHONPATH": str(ROOT)}
    if design == "bot":
        port = env.get("PORT")  # the caller's (bot_env), e.g. a port no concurrent test picks
        if not port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = str(probe.getsockname()[1])
        command, env["PORT"], url = ["-m", "bot", "http"], port, f"http://127.0.0.1:{port}"
    else:
        command, url = ["-m", "bench.burst", "serve", design], ""
    mine = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)  # this thread's mask, which the child inherits
    try:
        child = subprocess.Popen(  # noqa: S603 (this interpreter, this project's modules)
            [sys.executable, *command],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    finally:
        os.sched_setaffinity(0, mine)
    if not url:
        line = child.stdout.readline()
        url = json.loads(line)["url"] if line else ""
    deadline = time.monotonic() + 60
    while url and child.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}{'/healthz' if design == 'bot' else '/'}", timeout=5) as answer:  # noqa: S310 (http)
                if design != "bot" or json.loads(answer.read())["labelling"] != "starting":
                    return child, url  # the bot: once its labelling process's workers run, as after any start
        except urllib.error.HTTPError:
            return child, url  # answering (the baseline has no /healthz)
        except OSError:
            pass
        time.sleep(0.1)
    child.kill()
    child.wait()
    raise RuntimeError(f"the {design} server did not start")


def _process_tree(pid: int) -> list[int]:
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            pending += [int(child) for child in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            continue
        pids.append(current)
    return pids


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by the server's process tree."""
    total = 0
    for current in _process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def server_peak_rss_mb(pid: int) -> dict[str, float]:
    """Each process of the server's tree: its peak RSS in MB, by role. For the bot: gunicorn's arbiter, its worker
    (the acks) and the labelling process; the baseline is one process. VmHWM, not ru_maxrss: on Linux a spawned
    process's ru_maxrss starts at its parent's RSS when it was spawned (the high-water mark survives exec), here
    the benchmark's."""
    peaks: dict[str, float] = {}
    tree = _process_tree(pid)
    for current in tree:
        try:
            status = Path(f"/proc/{current}/status").read_text()
            command = Path(f"/proc/{current}/cmdline").read_bytes()
        except OSError:
            continue
        if b"bot.labelling_process" in command:
            role = "labelling"
        elif current == pid:
            role = "arbiter" if len(tree) > 1 else "server"
        else:
            role = "acks"
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[role] = peaks.get(role, 0.0) + int(line.split()[1]) / 1024
    return peaks


# ---- one burst ---------------------------------------------------------------------------------------------------
@dataclass
class BurstResult:
    design: str
    images: int
    distinct: int
    channels: int
    quota: int
    acks_ms: list[float] = field(default_factory=list)
    replies_ms: list[float] = field(default_factory=list)  # event sent -> first reply received, per answered image
    total_s: float = 0.0
    sending_s: float = 0.0  # first event sent to the last one acked
    server_cpu_s: float = 0.0  # CPU time the design's server used during the burst
    driver_cpu_s: float = 0.0  # CPU time this process (the senders and the fakes) used during the burst
    answered: int = 0
    duplicate_replies: int = 0
    busy_replies: int = 0
    error_replies: int = 0  # any other "couldn't" reply
    out_of_order: int = 0  # replies posted before the reply to an earlier image in the same channel
    slack_retries: int = 0  # deliveries Slack repeats because an ack took over 3 s or failed
    rekognition_calls: int = 0
    throttled_calls: int = 0
    calls_by_api: dict[str, int] = field(default_factory=dict)  # calls answered, by operation
    throttled_by_api: dict[str, int] = field(default_factory=dict)
    held: int = 0  # with moderation: images whose reply is the held line
    notices: int = 0  # with moderation: notices posted in the moderation channel
    with_text: int = 0  # with text: replies carrying the text line
    slack_429s: dict[str, int] = field(default_factory=dict)  # calls answered 429, by method
    early_retries: int = 0  # calls retried sooner than the Retry-After of the 429 they got
    reactions_expected: int = 0  # with tags on: the emoji every answered image should get
    reactions_added: int = 0
    last_reaction_after_last_reply_s: float = float("nan")
    original_downloads: int = 0
    thumb_downloads: int = 0
    downloaded_mb: float = 0.0
    rss_mb: dict[str, float] = field(default_factory=dict)  # peak RSS of each of the server's processes, by role
    latency_s: float = 0.0  # one Rekognition call's mean latency
    apis: int = 1  # the Rekognition APIs each image needs (DetectLabels, + moderation, + text)
    # Where the time goes, in seconds from the first event sent: each API's first call arriving, its last call
    # answered; the last reply.
    first_call_s: dict[str, float] = field(default_factory=dict)
    last_answer_s: dict[str, float] = field(default_factory=dict)
    timeline: dict = field(default_factory=dict)  # every event, call, throttle and reply (--timeline writes it)

    @property
    def peak_rss_mb(self) -> float:
        """The server's processes' peak RSS summed (pages they share counted in each)."""
        return sum(self.rss_mb.values())

    @property
    def bound_s(self) -> float:
        """images / quota: every API's calls at its quota, side by side on different images."""
        return self.images / self.quota

    @property
    def latency_bound_s(self) -> float:
        """images / quota + one call's latency per API: the last image's calls come one after the other."""
        return self.bound_s + self.apis * self.latency_s


class FlagEveryNth:
    """The fake Rekognition's moderation answer: FLAGGED_LABELS for the 1st, (n+1)th, (2n+1)th… distinct image it
    is asked about (in the order they arrive; the same image, asked again, the same answer), nothing for the rest."""

    def __init__(self, n: int) -> None:
        self.n, self.seen, self.lock = n, {}, threading.Lock()

    def __call__(self, image: bytes) -> list[dict] | None:
        with self.lock:
            index = self.seen.setdefault(image, len(self.seen))
        return FLAGGED_LABELS if index % self.n == 0 else None


def run_burst(design: str, photos: list[bytes], *, pin: bool = False, **options) -> BurstResult:
    """One design through one burst (options: see _burst). pin: the design's server on the last core, this process
    (the fakes) and the senders' on the others, so that neither side's CPU delays the other's (Linux, 2+ cores)."""
    all_cpus = os.sched_getaffinity(0)
    server_cpus = {max(all_cpus)} if pin and len(all_cpus) > 1 else None
    if server_cpus:
        os.sched_setaffinity(0, all_cpus - server_cpus)  # the fakes' threads and the sender process inherit it
    try:
        return _burst(design, photos, server_cpus=server_cpus, **options)
    finally:
        os.sched_setaffinity(0, all_cpus)


def _burst(
    design: str,
    photos: list[bytes],
    *,
    images: int,
    thumbs: list[dict[int, tuple[bytes, int, int]]] | None = None,
    channels: int = 20,
    senders: int = 20,
    quota: int = 5,
    latency: tuple[float, float] = (0.3, 1.5),
    slack_limits: bool = True,
    tags: bool = False,
    moderation: bool = False,
    flagged: int = 0,
    text: bool = False,
    seed: int = 0,
    timeout: float = 900.0,
    idle: float = 20.0,
    bot_env: dict[str, str] | None = None,
    server_cpus: set[int] | None = None,
) -> BurstResult:
    slack, rekognition = FakeSlack(), FakeRekognition()
    rekognition.delay_range, rekognition.random, rekognition.tps_quota = latency, random.Random(seed), quota
    slack.rate_limits = SlackRateLimits() if slack_limits else None
    if tags:
        rekognition.labels = list(TAGGED_LABELS)
    if moderation and flagged:
        rekognition.moderation_by = FlagEveryNth(flagged)
    if text:
        rekognition.text_lines = list(SCREEN_TEXT)
    lock = threading.Lock()
    replies: dict[tuple[str, str], list[tuple[float, str, bool]]] = collections.defaultdict(list)
    reactions_at: list[float] = []
    notices: list[dict] = []

    def on_answer(method: str, args: dict) -> None:
        with lock:
            if method == "chat.postMessage" and args.get("channel") == MODERATION_CHANNEL:
                notices.append(args)
            elif method == "chat.postMessage":
                replies[(args.get("channel"), args.get("thread_ts"))].append(
                    (time.perf_counter(), args.get("text", ""), ":memo:" in json.dumps(args.get("blocks") or []))
                )
            elif method == "reactions.add":
                reactions_at.append(time.perf_counter())

    slack.on_answer = on_answer
    files = [
        slack.add_file(
            f"F{index:05d}",
            photos[index % len(photos)],
            f"IMG_{index:04d}.jpg",
            "image/jpeg",
            "jpg",
            thumbs=thumbs[index % len(photos)] if thumbs else None,
        )
        for index in range(images)
    ]
    result = BurstResult(design, images, min(images, len(photos)), channels, quota)
    result.latency_s, result.apis = sum(latency) / 2, 1 + bool(moderation) + bool(text)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_"))},
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "LABELBOT_DB": f"{tmp}/bench.sqlite3",
            "LABELBOT_REKOGNITION_TPS": str(quota),  # the operator sets the account's quota (if the bot reads it)
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_REKOGNITION": rekognition.url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": f"{tmp}/no-aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": f"{tmp}/no-aws-credentials",
            **(
                {
                    "LABELBOT_MODERATION": "on",
                    "LABELBOT_MODERATION_CHANNEL": MODERATION_CHANNEL,
                    "LABELBOT_MODERATION_TPS": str(quota),  # each API's quota is its own, here the same
                }
                if moderation
                else {}
            ),
            **({"LABELBOT_TEXT": "on", "LABELBOT_TEXT_TPS": str(quota)} if text else {}),
            **(bot_env or {}),
        }
        if tags:
            turn_tags_on(env["LABELBOT_DB"], channels)
        with open(f"{tmp}/server.log", "wb") as log:
            try:
                child, url = start_server(design, env, log, tmp, server_cpus)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}: {Path(tmp, 'server.log').read_text()[-3000:]}") from None
        try:
            events_url = url + "/slack/events"
            server_cpu, driver_cpu = server_cpu_seconds(child.pid), _own_cpu_seconds()
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                sending = pool.submit(send_events, events_url, files, channels, senders).result()
            started = sending["started"]
            sent = {(channel, ts): at for channel, ts, at in sending["sent"]}
            result.acks_ms, result.slack_retries = sending["acks_ms"], sending["retries"]
            result.sending_s = sending["finished"] - started
            deadline = time.monotonic() + timeout

            def answered() -> int:
                with lock:
                    return sum(1 for key in sent if replies.get(key))

            def reactions() -> int:
                with lock:
                    return len(reactions_at)

            _wait_until_done(answered, images, deadline, idle)
            if tags:
                result.reactions_expected = answered() * len(expected_emoji())
                _wait_until_done(reactions, result.reactions_expected, deadline, REACTIONS_IDLE_SECONDS)
            time.sleep(0.5)  # a duplicate would come now
            result.server_cpu_s = server_cpu_seconds(child.pid) - server_cpu
            result.driver_cpu_s = _own_cpu_seconds() - driver_cpu + sending["cpu_s"]
            result.rss_mb = server_peak_rss_mb(child.pid)
            child.terminate()  # gunicorn stops gracefully on SIGTERM; the baseline's server just ends
            child.wait(30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    slack.close()
    rekognition.close()

    with lock:
        last = 0.0
        for key, sent_at in sent.items():
            got = replies.get(key)
            if not got:
                continue
            result.answered += 1
            result.duplicate_replies += len(got) - 1
            result.replies_ms.append((got[0][0] - sent_at) * 1000)
            last = max(last, got[0][0])
            text = got[0][1].lower()
            result.with_text += got[0][2]
            if got[0][1] == HELD_LINE:
                result.held += 1
            elif any(word in text for word in BUSY_WORDS):
                result.busy_replies += 1
            elif "couldn't" in text or "can't" in text:
                result.error_replies += 1
        order: dict[str, list[str]] = collections.defaultdict(list)
        for (channel, ts), _ in sorted(sent.items(), key=lambda item: item[1]):
            order[channel].append(ts)
        for channel, stamps in order.items():
            latest = 0.0
            for ts in stamps:
                got = replies.get((channel, ts))
                if not got:
                    continue
                if got[0][0] < latest:
                    result.out_of_order += 1
                latest = max(latest, got[0][0])
        result.total_s = last - started if last else float("nan")
        result.reactions_added = len(reactions_at)
        if reactions_at and last:
            result.last_reaction_after_last_reply_s = max(reactions_at) - last
    answered_calls = [call for call in rekognition.calls if call.answered_at]
    for call in answered_calls:
        api = call.operation
        first = result.first_call_s.get(api, float("inf"))
        result.first_call_s[api] = min(first, call.received_at - started)
        result.last_answer_s[api] = max(result.last_answer_s.get(api, 0.0), call.answered_at - started)
    result.timeline = {
        "started": started,  # time.perf_counter(), CLOCK_MONOTONIC as the fakes' time.monotonic() on Linux
        "sent": [(channel, ts, at - started) for (channel, ts), at in sent.items()],
        "calls": [
            (c.operation, c.received_at - started, c.answered_at - started, hashlib.sha256(c.image).hexdigest()[:12])
            for c in answered_calls
        ],
        "throttled": [(api, at - started) for api, at in rekognition.throttled_at],
        "replies": [(channel, ts, got[0][0] - started) for (channel, ts), got in replies.items() if got],
    }
    result.rekognition_calls = len(rekognition.calls)
    result.throttled_calls = rekognition.throttled
    result.calls_by_api = dict(collections.Counter(call.operation for call in rekognition.calls))
    result.throttled_by_api = dict(rekognition.throttled_by)
    result.notices = len(notices)
    result.slack_429s = dict(rate_limited_by_method(slack.calls))
    result.early_retries = len(early_retries(slack.calls))
    for name, hosted in slack.files.items():
        if "~thumb_" in name:
            result.thumb_downloads += len(hosted.downloads)
        else:
            result.original_downloads += len(hosted.downloads)
        result.downloaded_mb += len(hosted.downloads) * len(hosted.data) / 1e6
    return result


def turn_tags_on(db_path: str, channels: int) -> None:
    """Emoji tags on in every channel, in the bot's store before it starts (what /labels tags on saves)."""
    stores = open_sqlite_stores(db_path, exclusive=False)
    try:
        for index in range(channels):
            stores.settings.save_overrides(f"C{index:04d}", ChannelOverrides(tags=True))
    finally:
        stores.close()


def expected_emoji() -> list[str]:
    """The emoji the bot tags each image with, for TAGGED_LABELS (its own map and choice)."""
    labels = [
        Label(item["Name"], item["Confidence"], tuple(p["Name"] for p in item["Parents"])) for item in TAGGED_LABELS
    ]
    return EmojiMap.load().choose(labels, BOT_THRESHOLD)


def _wait_until_done(count, target: int, deadline: float, idle: float) -> None:
    """Until count() reaches target, or it stayed the same for `idle` seconds (a design that lost some), or deadline."""
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < idle:
        now = count()
        if now >= target:
            return
        if now != last:
            last, quiet_since = now, time.monotonic()
        time.sleep(0.05)


def _own_cpu_seconds() -> float:
    usage = os.times()
    return usage.user + usage.system


def send_events(events_url: str, files: list[dict], channels: int, senders: int) -> dict:
    """Slack's side, in a process of its own (so the fakes' CPU in the benchmark's process never delays a sender's
    clock): `senders` threads post the file_share events, image i to channel i % channels, each thread its next
    event as soon as the last one is acked; an ack over 3 s or a failed one is delivered again with
    X-Slack-Retry-Num (same event id), up to 3 times, as Slack does. Times are time.perf_counter(), which is
    CLOCK_MONOTONIC on Linux and so comparable with the benchmark process's."""
    lock = threading.Lock()
    out: dict = {"sent": [], "acks_ms": [], "retries": 0}

    def send(worker: int) -> None:
        for index in range(worker, len(files), senders):
            channel = f"C{index % channels:04d}"
            with lock:  # ts and send order agree per channel
                event = file_share_event(channel, [files[index]])
                out["sent"].append((channel, event["ts"], time.perf_counter()))
            for attempt in range(4):  # Slack's first delivery, then up to 3 retries of the same event
                try:
                    answer = post_event(events_url, event, event_id=f"EvBURST{index:06d}", retry_num=attempt or None)
                    ok = answer.status == 200 and answer.seconds <= SLACK_ACK_LIMIT
                    if attempt == 0:
                        with lock:
                            out["acks_ms"].append(answer.seconds * 1000)
                except OSError:
                    ok = False
                if ok or attempt == 3:
                    break
                with lock:
                    out["retries"] += 1

    cpu = _own_cpu_seconds()
    out["started"] = time.perf_counter()
    threads = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out["finished"] = time.perf_counter()
    out["cpu_s"] = _own_cpu_seconds() - cpu
    return out


# ---- report ------------------------------------------------------------------------------------------------------
def rows(result: BurstResult) -> dict[str, float]:
    return {
        "ack p50 (ms)": statistics.median(result.acks_ms) if result.acks_ms else float("nan"),
        "ack p99 (ms)": percentile(result.acks_ms, 0.99),
        "event-to-reply p50 (s)": percentile(result.replies_ms, 0.5) / 1000,
        "event-to-reply p99 (s)": percentile(result.replies_ms, 0.99) / 1000,
        "total time (s)": result.total_s,
        "total / (images / quota)": result.total_s / result.bound_s,
        "bound: images / quota + a call's latency per API (s)": result.latency_bound_s,
        "total / bound": result.total_s / result.latency_bound_s,
        **{f"first {api} call after (s)": at for api, at in sorted(result.first_call_s.items())},
        **{f"last {api} answer after (s)": at for api, at in sorted(result.last_answer_s.items())},
        "last reply after the last answer (s)": result.total_s - max(result.last_answer_s.values(), default=0.0),
        "events sent in (s)": result.sending_s,
        "CPU: server (s)": result.server_cpu_s,
        "CPU: senders and fakes (s)": result.driver_cpu_s,
        "peak RSS, its processes summed (MB)": result.peak_rss_mb,
        **{f"peak RSS: {role} (MB)": mb for role, mb in sorted(result.rss_mb.items())},
        "images answered": result.answered,
        "duplicate replies": result.duplicate_replies,
        "throttling errors seen by users": result.busy_replies,
        "other error replies": result.error_replies,
        "replies out of order in their channel": result.out_of_order,
        "Rekognition calls (answered)": result.rekognition_calls,
        **{f"Rekognition calls: {api}": count for api, count in sorted(result.calls_by_api.items())},
        "Rekognition calls throttled": result.throttled_calls,
        **{f"Rekognition calls throttled: {api}": count for api, count in sorted(result.throttled_by_api.items())},
        "images held for review": result.held,
        "moderation notices posted": result.notices,
        "replies with a text line": result.with_text,
        "Slack 429s, all methods": sum(result.slack_429s.values()),
        **{f"Slack 429s: {method}": count for method, count in sorted(result.slack_429s.items())},
        "Slack calls retried before their Retry-After": result.early_retries,
        "emoji reactions added (of expected)": result.reactions_added,
        "emoji reactions expected": result.reactions_expected,
        "last reaction after last reply (s)": result.last_reaction_after_last_reply_s,
        "Slack retries (acks > 3 s or failed)": result.slack_retries,
        "downloads of originals": result.original_downloads,
        "downloads of thumbnails": result.thumb_downloads,
        "MB downloaded": result.downloaded_mb,
    }


def table(bot: BurstResult, baseline: BurstResult | None) -> str:
    lines = ["| measure | bot | baseline | bot / baseline |", "|---|---|---|---|"]
    base_rows = rows(baseline) if baseline else {}
    for name, value in rows(bot).items():
        other = base_rows.get(name)
        ratio = f"{value / other:.2f}×" if other not in (None, 0) and other == other and value == value else "–"
        lines.append(f"| {name} | {_fmt(value)} | {_fmt(other) if other is not None else '–'} | {ratio} |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return "–" if value != value else f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def _moderation(args: argparse.Namespace) -> str:
    if not args.moderation:
        return "off"
    return f"on (1 distinct photo in {args.flagged} flagged)" if args.flagged else "on (none flagged)"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    if sys.argv[1:3] == ["serve", "baseline"]:
        serve_baseline()
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--distinct", type=int, default=50, help="distinct photos, reused in turn (cross-posts)")
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--senders", type=int, default=20, help="concurrent event senders, as Slack's")
    parser.add_argument("--quota", type=int, nargs="+", default=[5, 50], help="Rekognition TPS quota(s)")
    parser.add_argument("--latency", type=float, nargs=2, default=[0.3, 1.5], help="DetectLabels seconds, low high")
    parser.add_argument(
        "--no-slack-limits", action="store_true", help="the fake Slack without its rate limits (no 429s at all)"
    )
    parser.add_argument(
        "--tags", action="store_true", help="emoji tags on in every channel (as /labels tags on): 3 reactions an image"
    )
    parser.add_argument(
        "--moderation",
        action="store_true",
        help="the bot with moderation on in every channel (DetectModerationLabels first, its quota = --quota)",
    )
    parser.add_argument(
        "--flagged", type=int, default=0, metavar="N", help="with --moderation: one distinct photo in N is held"
    )
    parser.add_argument(
        "--text",
        action="store_true",
        help="the bot with text on in every channel (DetectText after the labels of every image, its quota = --quota)",
    )
    parser.add_argument("--designs", nargs="+", default=["bot", "baseline"], choices=["bot", "baseline"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run each design's server on the last core and the fakes and senders on the others",
    )
    parser.add_argument(
        "--no-thumbs",
        action="store_true",
        help="file objects without Slack's thumbnails: the bot downloads and prepares the originals",
    )
    parser.add_argument("--bot-env", nargs="*", default=[], metavar="NAME=VALUE", help="extra environment for the bot")
    parser.add_argument(
        "--timeline",
        metavar="PREFIX",
        help="write each burst's timeline (events sent, each call's arrival and answer, throttles, replies, in seconds "
        "from the first event) to PREFIX-DESIGN-QUOTA.json",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    photos = make_photos(min(args.distinct, args.images), args.megapixels, args.seed)
    sizes = sorted(len(p) for p in photos)
    thumbs = None if args.no_thumbs else [make_thumbs(photo) for photo in photos]
    with Image.open(io.BytesIO(photos[0])) as first:
        dimensions = f"{first.width}×{first.height}"
    print(
        f"{args.images} images ({len(photos)} distinct {dimensions} JPEGs, "
        f"{sizes[0] / 1e6:.1f}–{sizes[-1] / 1e6:.1f} MB, "
        f"{'no thumbnails' if thumbs is None else 'with thumbnails ' + ', '.join(map(str, SLACK_THUMB_SIZES))}, "
        f"made in {time.perf_counter() - started:.1f} s) across {args.channels} channels, {args.senders} senders; "
        f"DetectLabels {args.latency[0]}–{args.latency[1]} s; "
        f"Slack's rate limits {'off' if args.no_slack_limits else 'on'}, emoji tags {'on' if args.tags else 'off'}, "
        f"moderation {_moderation(args)}, text {'on' if args.text else 'off'}; "
        f"{os.cpu_count()} cores, load average {_load()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        flush=True,
    )
    for quota in args.quota:
        results = {}
        for design in args.designs:
            results[design] = run_burst(
                design,
                photos,
                images=args.images,
                thumbs=thumbs,
                channels=args.channels,
                senders=args.senders,
                quota=quota,
                latency=tuple(args.latency),
                slack_limits=not args.no_slack_limits,
                tags=args.tags and design == "bot",
                moderation=args.moderation and design == "bot",
                flagged=args.flagged,
                text=args.text and design == "bot",
                seed=args.seed,
                bot_env=dict(item.split("=", 1) for item in args.bot_env) if design == "bot" else None,
                pin=args.pin,
            )
            if args.timeline:
                Path(f"{args.timeline}-{design}-{quota}.json").write_text(json.dumps(results[design].timeline))
            print(
                f"  quota {quota}, {design}: done in {results[design].total_s:.1f} s; load average now {_load()}",
                file=sys.stderr,
                flush=True,
            )
        bot = results.get("bot") or results.get("baseline")
        print(f"\nquota {quota} TPS: images / quota = {bot.bound_s:.1f} s\n")
        print(table(bot, results.get("baseline") if "bot" in results else None))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
