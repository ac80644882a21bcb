"""What labelbot counts for operators: one catalogue of metrics, recorded through a Metrics object and written by one
of two backends. A long-running bot keeps them with prometheus_client and serves them at GET /metrics (bot.serve); on
AWS Lambda they go to CloudWatch as embedded-metric-format log lines (bot.lambda_metrics), which need no permission
beyond the function's own log group.

Labels are bounded by design: outcomes, APIs, steps, stages and the Slack methods the bot's code calls. No series is
per channel, user or file, and no value holds a token, a user ID or a file name.

Under gunicorn and the labelling process (two processes, see bot.labelling_process) prometheus_client runs in its
multiprocess mode: PROMETHEUS_MULTIPROC_DIR is set before either process imports it (bot.__main__), each process
writes its own files there, and a scrape adds them up (MultiProcessCollector)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

# name: (help, label names); Prometheus calls them labelbot_<name>_total.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "jobs": ("Images worked on, by outcome (labelled, held, error, limited, skipped)", ("outcome",)),
    "rekognition_calls": (
        "Rekognition attempts, retries included, by API and outcome (ok, throttled, error)",
        ("api", "outcome"),
    ),
    "cache_hits": ("Analysis steps answered from the cache instead of Rekognition, by step", ("step",)),
    "translate_calls": (
        "Amazon Translate TranslateText attempts (label names the label table lacks), retries included, by outcome "
        "(ok, throttled, error)",
        ("outcome",),
    ),
    "translate_characters": ("Characters sent to Amazon Translate, each attempt's (what it bills by)", ()),
    "translate_cost_usd": (
        "Estimated cost of those characters in USD (bot.pricing: $15 per million characters, list price)",
        (),
    ),
    "local_text_reads": (
        "Images read by the local text reader (bot.local_text), by outcome (ok, failed, late: past its deadline)",
        ("outcome",),
    ),
    "slack_calls": ("Slack Web API calls, by method", ("method",)),
    "slack_rate_limited": ("Slack Web API answers 429 (Too Many Requests), by method", ("method",)),
    "moderation_holds": ("Images held for an admin's review", ()),
    "moderation_decisions": ("Admins' decisions on held images, by decision (released, kept)", ("decision",)),
}
# name: (help, label names); Prometheus calls them labelbot_<name> with _bucket, _sum and _count.
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "stage_seconds": (
        "How long each stage of an image took: download, prepare, each Rekognition API (pacing and retries included), "
        "reply; and TranslateText, each label name translated while a reply waits; local_text, each read of the local "
        "text reader (loading the engine included, the wait for a turn not)",
        ("stage",),
    ),
}
STAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)
METRICS_PATH = "/metrics"
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable


class Metrics:
    """Records nothing: for code run outside the bot (the `label` command, unit tests). The backends override both."""

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` to the counter `name` (in COUNTERS) with these labels."""

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        """One observation of the histogram `name` (in HISTOGRAMS)."""

    def __deepcopy__(self, memo: dict) -> Metrics:
        # One set per process: Bolt deep-copies a lazy listener's request, Slack client (and so these) included.
        return self


class PrometheusMetrics(Metrics):
    """The catalogue in prometheus_client: in this process's own registry, or, in multiprocess mode (the
    PROMETHEUS_MULTIPROC_DIR variable set), in files that a scrape from any of the processes adds up."""

    def __init__(self) -> None:
        # Multiprocess: a scrape reads the files, so the metrics themselves are in no registry.
        self._own = None if os.environ.get(MULTIPROCESS_DIR) else CollectorRegistry()
        self._collectors: list = []
        self._counters = {
            name: Counter(f"labelbot_{name}", text, labels, registry=self._own)
            for name, (text, labels) in COUNTERS.items()
        }
        self._histograms = {
            name: Histogram(f"labelbot_{name}", text, labels, buckets=STAGE_BUCKETS, registry=self._own)
            for name, (text, labels) in HISTOGRAMS.items()
        }

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        counter = self._counters[name]
        (counter.labels(**labels) if labels else counter).inc(amount)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        histogram = self._histograms[name]
        (histogram.labels(**labels) if labels else histogram).observe(seconds)

    def add_collector(self, collector) -> None:
        """A collector read at each scrape in this process (the queue and the month's calls, from the store)."""
        self._collectors.append(collector)
        if self._own is not None:
            self._own.register(collector)

    def registry(self) -> CollectorRegistry:
        """What a scrape exposes: every process's metrics and this process's collectors."""
        if self._own is not None:
            return self._own
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        for collector in self._collectors:
            registry.register(collector)
        return registry

    def exposition(self) -> bytes:
        """GET /metrics's body, in Prometheus' text format."""
        return generate_latest(self.registry())


class StoreGauges:
    """Gauges read from the store at each scrape (whichever process made the change): the queue's depth and oldest
    job's age, and the month's Rekognition calls beside LABELBOT_MONTHLY_CALL_LIMIT (only when set). A store that
    can't answer leaves its gauges out of that scrape (one log line)."""

    def __init__(self, queue_stats: Callable, month_calls: Callable[[], int], limit: int | None) -> None:
        self._queue_stats = queue_stats
        self._month_calls = month_calls
        self._limit = limit

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            stats = self._queue_stats()
            calls = self._month_calls()
        except Exception:
            log.exception("reading the queue and usage for /metrics failed")
            return
        yield GaugeMetricFamily("labelbot_queue_depth", "Images waiting to be labelled", value=stats.depth)
        yield GaugeMetricFamily(
            "labelbot_queue_oldest_age_seconds",
            "How long the oldest waiting image has waited",
            stats.oldest_age_seconds,
        )
        yield GaugeMetricFamily(
            "labelbot_month_rekognition_calls", "Rekognition calls this UTC month, all APIs together", value=calls
        )
        if self._limit is not None:
            yield GaugeMetricFamily(
                "labelbot_month_call_limit",
                "LABELBOT_MONTHLY_CALL_LIMIT: Rekognition calls a month at most",
                self._limit,
            )
