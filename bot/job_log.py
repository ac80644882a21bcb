"""Each job's one log line and its metrics: what the pipeline measured of an image (sizes, each stage's duration),
its outcome, as text or as the keys of a JSON object (LOG_FORMAT=json)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

from bot.metrics import Metrics
from bot.render import ImageResult
from bot.store import Job

log = logging.getLogger("bot.pipeline")  # the jobs' lines keep the logger operators filter on


@dataclass
class JobMetrics:
    """What one job measured, for its log line: sizes, and each stage's duration in ms (None: it didn't run)."""

    downloaded_bytes: int | None = None
    prepared_bytes: int | None = None
    width: int | None = None  # of the image sent to Rekognition
    height: int | None = None
    download_ms: float | None = None
    prepare_ms: float | None = None
    detect_ms: float | None = None
    post_ms: float | None = None  # the reply step; near 0 while the message's other files are still being labelled
    # The text (DetectText or the local reader): "read", "none" (nothing legible), "failed", "limited" (the monthly
    # limit); None: not asked
    text: str | None = None
    rekognition_calls: int | None = None  # the analysis steps that asked Rekognition (0: all from the caches)


def ms_since(started: float) -> float:
    """Milliseconds since a time.perf_counter() reading, to 0.1 ms."""
    return round((time.perf_counter() - started) * 1000, 1)


def log_job(job: Job, result: ImageResult, metrics: JobMetrics, total_ms: float, counters: Metrics) -> None:
    """The job's one line: `job 12 channel=C… file_id=F… outcome=labelled downloaded_bytes=… …` as text, the
    same fields as keys of the JSON object with LOG_FORMAT=json."""
    fields = {
        "job_id": job.id,
        "channel": job.channel_id,
        "file_id": job.file.get("id"),
        "outcome": job_outcome(result),
        **asdict(metrics),
        "total_ms": total_ms,
    }
    if result.error:
        fields["error"] = result.error
    counters.count("jobs", outcome=fields["outcome"])
    for stage, ms in (
        ("download", metrics.download_ms),
        ("prepare", metrics.prepare_ms),
        ("reply", metrics.post_ms),
    ):
        if ms is not None:
            counters.observe("stage_seconds", ms / 1000, stage=stage)
    shown = {key: value for key, value in fields.items() if key not in ("job_id", "error")}
    text = " ".join(f"{key}={'-' if value is None else value}" for key, value in shown.items())
    log.info("job %s %s", job.id, text, extra={"fields": fields})


def job_outcome(result: ImageResult) -> str:
    """The job's outcome, for its log line: skipped, error, limited, held or labelled."""
    if result.skipped:
        return "skipped"
    return "error" if result.error else "limited" if result.limited else "held" if result.held else "labelled"
