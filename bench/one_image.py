"""One image at a time through the real HTTP entry point: ack latency and event-to-reply time.

    .venv/bin/python -m bench.one_image [--images 50] [--rekognition-ms 0]

Runs offline: the loopback Slack and Rekognition fakes from tests/fakes, the real Bolt app, store and workers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import load_config
from tests.conftest import FIXTURES
from tests.fakes.rekognition import FakeRekognition
from tests.fakes.slack import FakeSlack
from tests.harness import serve_bot
from tests.slack_requests import SIGNING_SECRET, file_share_event


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--rekognition-ms", type=float, default=0.0, help="latency the fake Rekognition adds")
    parser.add_argument("--photo", default="cat.jpg", help="a file in tests/fixtures")
    args = parser.parse_args()

    slack, rekognition = FakeSlack(), FakeRekognition()
    rekognition.delay_seconds = args.rekognition_ms / 1000
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL_REKOGNITION=rekognition.url,
        AWS_EC2_METADATA_DISABLED="true",
    )
    photo = (Path(FIXTURES) / args.photo).read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            {
                "SLACK_BOT_TOKEN": "xoxb-test-token",
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.api_url,
                "LABELBOT_DB": f"{tmp}/bench.sqlite3",
            },
            mode="http",
        )
        bot = serve_bot(config)
        acks, replies = [], []
        for index in range(args.images):
            file = slack.add_file(f"F{index}", photo, args.photo, "image/jpeg", "jpg")
            started = time.perf_counter()
            answer = bot.post_event(file_share_event("C0001", [file]))
            assert answer.status == 200, answer
            acks.append(answer.seconds * 1000)
            slack.wait_for_posts(index + 1)
            replies.append((time.perf_counter() - started) * 1000)
        bot.close()
    slack.close()
    rekognition.close()
    print(
        f"{args.images} images of {args.photo} ({len(photo)} bytes), Rekognition fake latency "
        f"{args.rekognition_ms:.0f} ms, {os.cpu_count()} cores"
    )
    for name, values in (("ack", acks), ("event-to-reply", replies)):
        print(
            f"{name:>15}: p50 {statistics.median(values):6.1f} ms   p99 {percentile(values, 0.99):6.1f} ms   "
            f"max {max(values):6.1f} ms"
        )


if __name__ == "__main__":
    main()
