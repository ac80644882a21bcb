"""One image at a time through the real HTTP entry point: ack latency and event-to-reply time.

    .venv/bin/python -m bench.one_image [--images 50] [--rekognition-ms 0]

Runs offline: the loopback Slack and Rekognition fakes from tests/fakes, the real Bolt app, store and workers.
Each image goes to its own channel (replies in one channel are paced 1 s apart) and differs by a trailing byte
string after the JPEG's end marker (so the label cache does not answer for it): this measures one image's path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.stats import percentile
from bot.config import load_config
from tests.conftest import FIXTURES
from tests.fakes.rekognition import FakeRekognition
from tests.fakes.slack import FakeSlack
from tests.harness import serve_bot
from tests.slack_requests import SIGNING_SECRET, file_share_event


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
                # Far above one call at a time, so the TPS pacer never delays: the bot's own cost.
                "LABELBOT_REKOGNITION_TPS": "1000",
            },
            mode="http",
        )
        bot = serve_bot(config)
        acks, replies = [], []
        for index in range(args.images):
            distinct = photo + f"labelbot-bench-{index}".encode()  # after the end marker: same picture, new hash
            file = slack.add_file(f"F{index}", distinct, args.photo, "image/jpeg", "jpg")
            started = time.perf_counter()
            answer = bot.post_event(file_share_event(f"C{index:04d}", [file]))
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
