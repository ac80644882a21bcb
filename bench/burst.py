"""A burst of images across channels against Rekognition's TPS quota and Slack's per-channel post rate: the real
bot beside the straightforward design (bench/burst_baseline.py), driven the same way.

    .venv/bin/python -m bench.burst                       # 200 photos of 12 MP, 20 channels, quotas 5 and 50
    .venv/bin/python -m bench.burst --images 40 --quota 5 # smaller

The fakes (tests/fakes) and the 20 sender threads run in this process; each design's server runs in its own
subprocess (`python -m bench.burst serve bot|baseline`), so its peak RSS (ru_maxrss) is the bot side's alone.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from bench.stats import percentile
from tests.fakes.rekognition import FakeRekognition
from tests.fakes.slack import FakeSlack
from tests.slack_requests import SIGNING_SECRET, file_share_event, post_event

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SLACK_ACK_LIMIT = 3.0  # seconds: a slower ack makes Slack send the event again
BUSY_WORDS = ("busy", "throttl")  # a reply with one of these is a throttling error seen by a user


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


# ---- the bot side, in a subprocess -------------------------------------------------------------------------------
def serve(design: str) -> None:
    """Start one design's HTTP server, print its URL, serve until stdin closes, then print the peak RSS."""
    from wsgiref.simple_server import make_server

    from slack_bolt.adapter.wsgi import SlackRequestHandler

    from bot.config import load_config
    from bot.logs import configure_logging
    from tests.harness import _QuietHandler, _ThreadingWSGIServer, serve_bot

    config = load_config(dict(os.environ), mode="http")
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))  # to the server log file, as the bot logs in production
    if design == "bot":
        running = serve_bot(config)
        url, close = running.url, running.close
    else:
        from bench.burst_baseline import build_baseline_app

        server = make_server(
            "127.0.0.1",
            0,
            SlackRequestHandler(build_baseline_app(config)),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"

        def close() -> None:
            server.shutdown()
            server.server_close()

    print(json.dumps({"url": url}), flush=True)
    sys.stdin.read()
    close()
    print(json.dumps({"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


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
    answered: int = 0
    duplicate_replies: int = 0
    busy_replies: int = 0
    error_replies: int = 0  # any other "couldn't" reply
    out_of_order: int = 0  # replies posted before the reply to an earlier image in the same channel
    slack_retries: int = 0  # deliveries Slack repeats because an ack took over 3 s or failed
    rekognition_calls: int = 0
    throttled_calls: int = 0
    slack_429s: int = 0
    peak_rss_mb: float = 0.0

    @property
    def bound_s(self) -> float:
        return self.images / self.quota


def run_burst(
    design: str,
    photos: list[bytes],
    *,
    images: int,
    channels: int = 20,
    senders: int = 20,
    quota: int = 5,
    latency: tuple[float, float] = (0.3, 1.5),
    post_rate: float | None = 1.0,
    seed: int = 0,
    timeout: float = 900.0,
    idle: float = 20.0,
    bot_env: dict[str, str] | None = None,
) -> BurstResult:
    slack, rekognition = FakeSlack(), FakeRekognition()
    rekognition.delay_range, rekognition.random, rekognition.tps_quota = latency, random.Random(seed), quota
    slack.post_rate_per_channel = post_rate
    lock = threading.Lock()
    replies: dict[tuple[str, str], list[tuple[float, str]]] = collections.defaultdict(list)

    def on_answer(method: str, args: dict) -> None:
        if method == "chat.postMessage":
            with lock:
                replies[(args.get("channel"), args.get("thread_ts"))].append(
                    (time.perf_counter(), args.get("text", ""))
                )

    slack.on_answer = on_answer
    files = [
        slack.add_file(f"F{index:05d}", photos[index % len(photos)], f"IMG_{index:04d}.jpg", "image/jpeg", "jpg")
        for index in range(images)
    ]
    result = BurstResult(design, images, min(images, len(photos)), channels, quota)
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
            **(bot_env or {}),
        }
        with open(f"{tmp}/server.log", "wb") as log:
            child = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
                [sys.executable, "-m", "bench.burst", "serve", design],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        try:
            line = child.stdout.readline()
            if not line:
                raise RuntimeError(f"the {design} server did not start: {Path(tmp, 'server.log').read_text()[-3000:]}")
            events_url = json.loads(line)["url"] + "/slack/events"
            sent: dict[tuple[str, str], float] = {}
            order: dict[str, list[str]] = collections.defaultdict(list)

            def send(worker: int) -> None:
                for index in range(worker, images, senders):
                    channel = f"C{index % channels:04d}"
                    with lock:  # ts and send order agree per channel
                        event = file_share_event(channel, [files[index]])
                        sent[(channel, event["ts"])] = time.perf_counter()
                        order[channel].append(event["ts"])
                    for attempt in range(4):  # Slack's first delivery, then up to 3 retries of the same event
                        try:
                            answer = post_event(
                                events_url, event, event_id=f"EvBURST{index:06d}", retry_num=attempt or None
                            )
                            ok = answer.status == 200 and answer.seconds <= SLACK_ACK_LIMIT
                            if attempt == 0:
                                with lock:
                                    result.acks_ms.append(answer.seconds * 1000)
                        except OSError:
                            ok = False
                        if ok or attempt == 3:
                            break
                        with lock:
                            result.slack_retries += 1

            started = time.perf_counter()
            threads = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            # Until every image is answered, or no reply came for `idle` seconds (a design that lost some).
            deadline, answered, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
            while time.monotonic() < deadline and time.monotonic() - quiet_since < idle:
                with lock:
                    now_answered = sum(1 for key in sent if replies.get(key))
                if now_answered >= images:
                    break
                if now_answered != answered:
                    answered, quiet_since = now_answered, time.monotonic()
                time.sleep(0.05)
            time.sleep(0.5)  # a duplicate would come now
            child.stdin.close()
            result.peak_rss_mb = json.loads(child.stdout.readline() or '{"maxrss_mb": 0}')["maxrss_mb"]
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
            if any(word in text for word in BUSY_WORDS):
                result.busy_replies += 1
            elif "couldn't" in text or "can't" in text:
                result.error_replies += 1
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
    result.rekognition_calls = len(rekognition.calls)
    result.throttled_calls = rekognition.throttled
    result.slack_429s = slack.rate_limited
    return result


# ---- report ------------------------------------------------------------------------------------------------------
def rows(result: BurstResult) -> dict[str, float]:
    return {
        "ack p50 (ms)": statistics.median(result.acks_ms) if result.acks_ms else float("nan"),
        "ack p99 (ms)": percentile(result.acks_ms, 0.99),
        "event-to-reply p50 (s)": percentile(result.replies_ms, 0.5) / 1000,
        "event-to-reply p99 (s)": percentile(result.replies_ms, 0.99) / 1000,
        "total time (s)": result.total_s,
        "total / (images / quota)": result.total_s / result.bound_s,
        "peak RSS (MB)": result.peak_rss_mb,
        "images answered": result.answered,
        "duplicate replies": result.duplicate_replies,
        "throttling errors seen by users": result.busy_replies,
        "other error replies": result.error_replies,
        "replies out of order in their channel": result.out_of_order,
        "Rekognition calls (answered)": result.rekognition_calls,
        "Rekognition calls throttled": result.throttled_calls,
        "Slack 429s on chat.postMessage": result.slack_429s,
        "Slack retries (acks > 3 s or failed)": result.slack_retries,
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


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--distinct", type=int, default=50, help="distinct photos, reused in turn (cross-posts)")
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--senders", type=int, default=20, help="concurrent event senders, as Slack's")
    parser.add_argument("--quota", type=int, nargs="+", default=[5, 50], help="Rekognition TPS quota(s)")
    parser.add_argument("--latency", type=float, nargs=2, default=[0.3, 1.5], help="DetectLabels seconds, low high")
    parser.add_argument("--post-rate", type=float, default=1.0, help="chat.postMessage per second per channel (0: off)")
    parser.add_argument("--designs", nargs="+", default=["bot", "baseline"], choices=["bot", "baseline"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    photos = make_photos(min(args.distinct, args.images), args.megapixels, args.seed)
    sizes = sorted(len(p) for p in photos)
    with Image.open(io.BytesIO(photos[0])) as first:
        dimensions = f"{first.width}×{first.height}"
    print(
        f"{args.images} images ({len(photos)} distinct {dimensions} JPEGs, "
        f"{sizes[0] / 1e6:.1f}–{sizes[-1] / 1e6:.1f} MB, "
        f"made in {time.perf_counter() - started:.1f} s) across {args.channels} channels, {args.senders} senders; "
        f"DetectLabels {args.latency[0]}–{args.latency[1]} s; chat.postMessage ≤ {args.post_rate}/s/channel; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
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
                channels=args.channels,
                senders=args.senders,
                quota=quota,
                latency=tuple(args.latency),
                post_rate=args.post_rate or None,
                seed=args.seed,
            )
            print(f"  quota {quota}, {design}: done in {results[design].total_s:.1f} s", file=sys.stderr, flush=True)
        bot = results.get("bot") or results.get("baseline")
        print(f"\nquota {quota} TPS: images / quota = {bot.bound_s:.1f} s\n")
        print(table(bot, results.get("baseline") if "bot" in results else None))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
