"""The metrics on AWS Lambda: bot.metrics' catalogue as CloudWatch embedded-metric-format (EMF) lines, through
Powertools for AWS Lambda's EphemeralMetrics (chosen over aws-embedded-metrics: synchronous, no agent or asyncio,
maintained with the Lambda runtime, and an EphemeralMetrics keeps no state shared between instances of it).

An invocation's counts are added up in memory and flushed once at its end, one EMF line per set of labels: CloudWatch
Logs turns them into metrics in the `labelbot` namespace, so the function needs no cloudwatch:PutMetricData."""

from __future__ import annotations

import threading
from collections import defaultdict

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from bot.metrics import COUNTERS, HISTOGRAMS, Metrics

NAMESPACE = "labelbot"
# The catalogue's names as CloudWatch shows them.
CLOUDWATCH_NAMES = {
    "jobs": "Jobs",
    "rekognition_calls": "RekognitionCalls",
    "cache_hits": "CacheHits",
    "translate_calls": "TranslateCalls",
    "translate_characters": "TranslateCharacters",
    "translate_cost_usd": "TranslateCostUSD",
    "local_text_reads": "LocalTextReads",
    "slack_calls": "SlackCalls",
    "slack_rate_limited": "SlackRateLimited",
    "moderation_holds": "ModerationHolds",
    "moderation_decisions": "ModerationDecisions",
    "stage_seconds": "StageLatency",
    "queue_depth": "QueueDepth",
    "queue_oldest_age_seconds": "QueueOldestAgeSeconds",
}


class CloudWatchMetrics(Metrics):
    # Powertools prints each line in two writes (the JSON, then the newline): two instances flushing at once in one
    # process (the tests' Lambda runs invocations as threads) would run their lines together.
    _printing = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # labels -> CloudWatch name -> (unit, values): counters keep one sum, the others every value
        self._pending: dict[tuple[tuple[str, str], ...], dict[str, tuple[str, list[float]]]] = defaultdict(dict)

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        if name not in COUNTERS:
            raise KeyError(name)
        with self._lock:
            metric = self._pending[tuple(sorted(labels.items()))].setdefault(
                CLOUDWATCH_NAMES[name], (MetricUnit.Count.value, [0.0])
            )
            metric[1][0] += amount

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        if name not in HISTOGRAMS:
            raise KeyError(name)
        self._add(CLOUDWATCH_NAMES[name], MetricUnit.Milliseconds.value, round(seconds * 1000, 1), labels)

    def gauge(self, name: str, value: float, unit: str = MetricUnit.Count.value) -> None:
        """A value as of now (the queue's depth), flushed with the rest."""
        self._add(CLOUDWATCH_NAMES[name], unit, value, {})

    def _add(self, name: str, unit: str, value: float, labels: dict[str, str]) -> None:
        with self._lock:
            self._pending[tuple(sorted(labels.items()))].setdefault(name, (unit, []))[1].append(value)

    def flush(self) -> None:
        """Print what this invocation counted as EMF lines (stdout: the function's log), and start again."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(dict)
        for labels, metrics in pending.items():
            emf = EphemeralMetrics(namespace=NAMESPACE, service=NAMESPACE)
            for key, value in labels:
                emf.add_dimension(key, value)
            for name, (unit, values) in metrics.items():
                for value in values:  # past 100 values Powertools prints a line and goes on
                    emf.add_metric(name=name, unit=unit, value=value)
            with self._printing:
                emf.flush_metrics()
