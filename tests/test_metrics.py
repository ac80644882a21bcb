"""Metrics for operators (bot.metrics): GET /metrics after a burst, parsed with prometheus_client's own parser, counts
what the fake Rekognition and the fake Slack recorded; on Lambda the same counts come out as CloudWatch EMF lines;
the real bot (gunicorn + its labelling process) adds up both processes' counts; Socket Mode serves them on
LABELBOT_METRICS_PORT; and nothing secret or unbounded is in them."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.bot_processes import APP_TOKEN, free_port
from tests.conftest import BOT_TOKEN, fixture_bytes
from tests.fakes.socket_mode import FakeSocketModeServer
from tests.slack_requests import envelope, file_share_event, post_event
from tests.test_moderation_flow import KEEP_ACTION, MODERATION, hold_one, press

CAT = fixture_bytes("cat.jpg")
SCREENSHOT = [{"Name": "Screenshot", "Confidence": 97.0, "Parents": [{"Name": "Text"}]}]


def scrape(url: str) -> tuple[str, dict[tuple[str, tuple], float]]:
    """GET url; the body and every sample as {(name, sorted labels): value}."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        body = response.read().decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    return body, samples


def received(aws_env) -> Counter:
    """The fake Rekognition's own record: (API, ok | throttled | error) of every call it received."""
    return Counter(
        (
            call.operation,
            "ok" if call.outcome in ("labels", "ok") else "throttled" if "Throttl" in call.outcome else "error",
        )
        for call in aws_env.calls
    )


def photos(fake_slack, count: int, prefix: str = "F") -> list[dict]:
    return [
        fake_slack.add_file(f"{prefix}{n}", CAT + bytes([n]), f"secret-plan-{n}.jpg", "image/jpeg", "jpg")
        for n in range(count)
    ]


def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def burst(bot, fake_slack, aws_env) -> list[dict]:
    """6 distinct screenshots (labels, then text) in 2 channels, 2 throttled DetectLabels attempts and a Slack 429 on
    the first reply, then one re-post answered from the caches; returns once every reply is out."""
    aws_env.labels = SCREENSHOT
    aws_env.text_lines = [("Deploy failed", 99.0, (0.1, 0.1, 0.5, 0.1))]
    aws_env.fail_next("ThrottlingException", 400, times=2, operation="DetectLabels")
    fake_slack.fail_next("chat.postMessage", 429, "ratelimited", {"Retry-After": "1"})
    events = [file_share_event(f"C000{n % 2 + 1}", [photo]) for n, photo in enumerate(photos(fake_slack, 6))]
    for event in events:
        bot.post_event(event)
    fake_slack.wait_for_posts(6, timeout=30)
    again = fake_slack.add_file("FA", CAT + bytes([0]), "again.jpg", "image/jpeg", "jpg")
    bot.post_event(file_share_event("C0001", [again]))
    fake_slack.wait_for_posts(7, timeout=30)
    return events


def test_a_scrape_after_a_burst_counts_what_rekognition_and_slack_received(start_bot, fake_slack, aws_env):
    bot = start_bot(LABELBOT_MONTHLY_CALL_LIMIT="1000", LABELBOT_ADMINS="UALICE")
    burst(bot, fake_slack, aws_env)
    wait_until(lambda: scrape(bot.url + "/metrics")[1].get(("labelbot_jobs_total", (("outcome", "labelled"),))) == 7)

    body, samples = scrape(bot.url + "/metrics")

    calls = {
        (dict(labels)["api"], dict(labels)["outcome"]): value
        for (name, labels), value in samples.items()
        if name == "labelbot_rekognition_calls_total"
    }
    assert {key: value for key, value in calls.items() if value} == received(aws_env)
    assert received(aws_env) == {("DetectLabels", "ok"): 6, ("DetectLabels", "throttled"): 2, ("DetectText", "ok"): 6}
    assert samples[("labelbot_cache_hits_total", (("step", "labels"),))] == 1  # the re-post
    assert samples[("labelbot_cache_hits_total", (("step", "text"),))] == 1
    assert samples[("labelbot_month_rekognition_calls", ())] == 14  # what the month's usage counted: every attempt
    assert samples[("labelbot_month_call_limit", ())] == 1000
    assert samples[("labelbot_queue_depth", ())] == 0
    assert samples[("labelbot_queue_oldest_age_seconds", ())] == 0
    posted = len(fake_slack.calls_to("chat.postMessage"))
    assert samples[("labelbot_slack_calls_total", (("method", "chat.postMessage"),))] == posted == 7
    assert samples[("labelbot_slack_rate_limited_total", (("method", "chat.postMessage"),))] == 1
    for stage in ("download", "DetectLabels", "DetectText", "reply"):
        assert samples[("labelbot_stage_seconds_count", (("stage", stage),))] >= 6, stage
    assert samples[("labelbot_stage_seconds_count", (("stage", "prepare"),))] == 6  # the re-post is never prepared
    # Nothing that names a workspace's people, channels or files, nor a secret.
    for private in (BOT_TOKEN, "secret-plan", "C0001", "UALICE", "F0", "Deploy failed"):
        assert private not in body
    label_values = {value for (_, labels) in samples for _, value in labels}
    assert all(len(value) < 40 for value in label_values)


def test_moderation_holds_and_decisions_are_counted(start_bot, fake_slack, aws_env):
    fake_slack.users["UADMIN"] = {"is_owner": True}
    bot = start_bot(**MODERATION)
    _, _, notice = hold_one(bot, fake_slack, aws_env)
    assert scrape(bot.url + "/metrics")[1][("labelbot_moderation_holds_total", ())] == 1

    press(bot, notice, KEEP_ACTION, "UADMIN")

    kept = ("labelbot_moderation_decisions_total", (("decision", "kept"),))
    wait_until(lambda: scrape(bot.url + "/metrics")[1].get(kept) == 1)


@pytest.mark.parametrize("start_bot", ["lambda"], indirect=True)
def test_on_lambda_the_same_counts_are_cloudwatch_embedded_metric_lines(start_bot, fake_slack, aws_env, capfd):
    bot = start_bot()
    burst(bot, fake_slack, aws_env)
    bot.sweep()  # the scheduled invocation: the queue's gauges
    time.sleep(0.2)

    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"_aws"')]

    counted: Counter = Counter()
    gauges: dict[str, list[float]] = {}
    for line in lines:
        directive = line["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "labelbot"
        dimensions = directive["Dimensions"][0]
        assert set(dimensions) <= {"service", "api", "outcome", "step", "stage", "method", "decision"}
        for metric in directive["Metrics"]:
            values = line[metric["Name"]]
            values = values if isinstance(values, list) else [values]
            key = (metric["Name"], *(line[d] for d in dimensions if d != "service"))
            counted[key] += sum(values) if metric["Unit"] == "Count" else len(values)
            if not dimensions[1:]:
                gauges.setdefault(metric["Name"], []).extend(values)
    calls = {
        (api, outcome): n
        for (name, *rest), n in counted.items()
        if name == "RekognitionCalls"
        for api, outcome in [rest]
    }
    assert calls == received(aws_env)
    assert counted[("Jobs", "labelled")] == 7
    assert counted[("CacheHits", "labels")] == 1
    assert counted[("SlackRateLimited", "chat.postMessage")] == 1
    assert counted[("StageLatency", "DetectLabels")] == 6
    assert gauges == {"QueueDepth": [0], "QueueOldestAgeSeconds": [0]}  # from the sweep, nothing waiting


def test_the_real_bot_adds_up_both_processes_counts_under_gunicorn(bot_env, processes, fake_slack, aws_env):
    bot = processes(bot_env, "bot")
    bot.wait_ready()
    for event in [file_share_event("C0001", [photo]) for photo in photos(fake_slack, 3)]:
        assert post_event(bot.events_url, event).status == 200
    fake_slack.wait_for_posts(3, timeout=30)

    def labelled() -> float:
        return scrape(bot.url + "/metrics")[1].get(("labelbot_jobs_total", (("outcome", "labelled"),)), 0)

    wait_until(lambda: labelled() == 3, 30)
    _, samples = scrape(bot.url + "/metrics")

    # Counted in the labelling process, served by the gunicorn worker.
    assert labelled() == 3
    assert samples[("labelbot_rekognition_calls_total", (("api", "DetectLabels"), ("outcome", "ok")))] == 3
    # Counted in both: the worker's event acks call nothing, the labelling process posts the replies.
    assert samples[("labelbot_slack_calls_total", (("method", "chat.postMessage"),))] == 3


def test_socket_mode_serves_metrics_on_labelbot_metrics_port(bot_env, processes, fake_slack, aws_env):
    socket_server = FakeSocketModeServer()
    fake_slack.socket_mode_url = socket_server.url
    port = free_port()
    bot = processes({**bot_env, "SLACK_APP_TOKEN": APP_TOKEN, "LABELBOT_METRICS_PORT": str(port)}, "bot", "socket")
    bot.socket_server = socket_server
    socket_server.wait_for_client(timeout=30)
    socket_server.send_event(envelope(file_share_event("C0001", photos(fake_slack, 1))))
    fake_slack.wait_for_posts(1, timeout=30)

    wait_until(
        lambda: (
            scrape(f"http://127.0.0.1:{port}/metrics")[1].get(("labelbot_jobs_total", (("outcome", "labelled"),))) == 1
        )
    )


def test_an_operators_metrics_directory_is_emptied_at_start_and_the_bots_own_is_removed_at_exit(
    bot_env, processes, fake_slack, aws_env, tmp_path
):
    operators = tmp_path / "metrics"
    operators.mkdir()
    (operators / "counter_999999.db").write_bytes(b"an earlier run's counts")
    bot = processes({**bot_env, "PROMETHEUS_MULTIPROC_DIR": str(operators)}, "bot")
    bot.wait_ready()
    assert not (operators / "counter_999999.db").exists()
    assert scrape(bot.url + "/metrics")[1][("labelbot_queue_depth", ())] == 0
    assert bot.terminate()[0] == 0
    assert operators.is_dir()  # the operator's: kept

    own = processes({key: value for key, value in bot_env.items() if key != "PROMETHEUS_MULTIPROC_DIR"}, "own")
    own.wait_ready()
    labelling = own.wait_for_labelling_process()
    environ = dict(
        entry.split("=", 1) for entry in Path(f"/proc/{labelling}/environ").read_text().split("\0") if "=" in entry
    )
    created = Path(environ["PROMETHEUS_MULTIPROC_DIR"])
    assert created.is_dir() and created != operators
    assert own.terminate()[0] == 0
    assert not created.exists()
