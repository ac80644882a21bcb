"""What counting costs: recording one job's metrics, counting one Rekognition call against the monthly limit in the
SQLite store, and one GET /metrics scrape.

    .venv/bin/python -m bench.metrics_overhead [--jobs 20000] [--calls 2000]

Each prometheus_client mode is measured in a process of its own (the mode is fixed when prometheus_client is first
imported): "single" is one process's registry (the tests' bot); "multiprocess" writes every value to a file in
PROMETHEUS_MULTIPROC_DIR, as the real bot does across its two processes. A job's recording is what the pipeline and
the Rekognition seam record for one labelled image with text read: 11 counts and 6 observations.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def record_one_job(metrics) -> None:
    metrics.count("jobs", outcome="labelled")
    for api in ("DetectLabels", "DetectText"):
        metrics.count("rekognition_calls", api=api, outcome="ok")
        metrics.observe("stage_seconds", 0.2, stage=api)
    metrics.count("cache_hits", step="moderation")
    for method in ("chat.postMessage", "reactions.add", "reactions.add"):
        metrics.count("slack_calls", method=method)
    for method in ("files.info", "conversations.info", "auth.test", "users.info"):
        metrics.count("slack_calls", method=method)
    for stage in ("download", "prepare", "reply"):
        metrics.observe("stage_seconds", 0.05, stage=stage)


def measure_mode(jobs: int) -> dict[str, float]:
    """In this process, in whichever mode the environment set: µs per job recorded, and ms per scrape."""
    from bot.metrics import PrometheusMetrics

    metrics = PrometheusMetrics()
    for _ in range(200):
        record_one_job(metrics)
    started = time.perf_counter()
    for _ in range(jobs):
        record_one_job(metrics)
    per_job_us = (time.perf_counter() - started) / jobs * 1e6
    scrapes = []
    for _ in range(50):
        started = time.perf_counter()
        body = metrics.exposition()
        scrapes.append((time.perf_counter() - started) * 1000)
    return {"job_us": per_job_us, "scrape_ms": statistics.median(scrapes), "bytes": len(body)}


def measure_calls(calls: int) -> float:
    """ms per Rekognition call counted against a limit in a fresh SQLite store (a write transaction each)."""
    from bot.store.sqlite import open_sqlite_stores
    from bot.usage import CallCounter

    with tempfile.TemporaryDirectory() as folder:
        stores = open_sqlite_stores(Path(folder) / "bench.sqlite3")
        count = CallCounter(stores.usage, limit=10**9)
        started = time.perf_counter()
        for _ in range(calls):
            assert count("DetectLabels")
        elapsed = time.perf_counter() - started
        stores.close()
    return elapsed / calls * 1000


def child(mode: str, jobs: int) -> None:
    figures = measure_mode(jobs)
    print(f"{mode}\t{figures['job_us']:.1f}\t{figures['scrape_ms']:.2f}\t{figures['bytes']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--child", choices=("single", "multiprocess"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.jobs)
        return
    print(f"# {os.cpu_count()} cores · Python {platform.python_version()} · {time.strftime('%F %R')}")
    print("| prometheus_client mode | one job's recording | one scrape (p50) | scrape size |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("single", "multiprocess"):
            env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = folder
            out = subprocess.run(  # noqa: S603 - this very module, as a child
                [sys.executable, "-m", "bench.metrics_overhead", "--child", mode, "--jobs", str(args.jobs)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            print(f"| {mode} | {float(out[1]):.1f} µs | {float(out[2]):.2f} ms | {int(out[3]):,} bytes |")
    print(f"\nCounting one Rekognition call against the monthly limit (SQLite): {measure_calls(args.calls):.3f} ms")


if __name__ == "__main__":
    main()
