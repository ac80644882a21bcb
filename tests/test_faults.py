"""Faults from outside, end to end: signed events into the real app, each fault injected in a loopback fake and
its outcome asserted. Rekognition (throttling, 5xx, slow answers, dropped connections), Slack (5xx, long
Retry-After, channels the bot can't post in, a refused token), overload (the bounded queue) and malformed event
payloads. (Slack's 429s on chat.postMessage and reactions.add are in test_labelling_http and test_reactions; the
downloader's faults in test_slack_files.)"""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from http.client import RemoteDisconnected
from urllib.error import URLError

import pytest
from botocore.retries import standard
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.state import RetryState

from bot.config import ConfigError, load_config
from bot.overload import BUSY
from bot.rekognition import MAX_ATTEMPTS, build_rekognition_client
from bot.settings import ChannelOverrides
from bot.slack_api import PostOnceConnectionRetryHandler, build_web_client
from tests.conftest import bot_environ, fixture_bytes
from tests.slack_requests import file_share_event, next_ts

BUSY_START = "I couldn't label this image right now"
SHORT_TIMEOUT = 0.3  # Rekognition's read timeout in these tests, instead of 30 s
SLOW = 10 * SHORT_TIMEOUT  # how long a slow Rekognition takes to answer


def cat_file(fake_slack, file_id: str = "F_CAT") -> dict:
    return fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), f"{file_id}.jpg", "image/jpeg", "jpg")


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def attempts(fake_slack, method: str) -> list[dict]:
    """Every call the bot made to `method`, failed ones included."""
    return [c.args for c in fake_slack.calls if c.method == method]


def table_counts(bot) -> tuple[int, int]:
    """(messages, jobs) recorded in the bot's database."""
    with sqlite3.connect(bot.config.db_path) as db:
        return (
            db.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
            db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0],
        )


def records(caplog, level: int, logger: str | None = None, text: str = "") -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == level and (logger is None or r.name == logger) and text in r.getMessage()
    ]


@pytest.fixture
def fast_backoff(monkeypatch) -> list[float]:
    """botocore's own standard-mode backoff (throttling waits up to 1, 2, 4, 8 s), scaled down 50x; records the
    delays it chose, so a test sees the backoff really ran."""
    delays: list[float] = []
    original = standard.ExponentialBackoff.delay_amount

    def delay_amount(self, context):
        delays.append(original(self, context))
        return delays[-1] / 50

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", delay_amount)
    return delays


def start_with_short_timeouts(start_bot, **env):
    """The bot with a Rekognition client whose connect and read timeouts are SHORT_TIMEOUT."""
    client = build_rekognition_client(4, connect_timeout=SHORT_TIMEOUT, read_timeout=SHORT_TIMEOUT)
    return start_bot(services={"rekognition_client": client}, **env)


# ---- Rekognition ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_a_throttling_burst_is_backed_off_and_the_image_labelled(start_bot, fake_slack, aws_env, fast_backoff, code):
    aws_env.fail_next(code, 400, times=MAX_ATTEMPTS - 1)  # the burst lasts all but the last attempt
    bot = start_bot()

    started = time.monotonic()
    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))
    [post] = fake_slack.wait_for_posts(1)

    assert post["text"].startswith("Cat 99.2%")
    assert [call.outcome for call in aws_env.calls] == [code] * (MAX_ATTEMPTS - 1) + ["labels"]
    assert len(fast_backoff) == MAX_ATTEMPTS - 1  # botocore waited before each retry
    assert time.monotonic() - started < 5
    summary = bot.services.stores.summary.labelling_summary(0)
    assert (summary.images_labelled, summary.images_failed) == (1, 0)


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalServerError"), (503, "ServiceUnavailableException")], ids=["500", "503"]
)
def test_server_errors_are_retried_and_the_image_labelled(start_bot, fake_slack, aws_env, status, code):
    aws_env.fail_next(code, status, times=2)
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    assert [call.outcome for call in aws_env.calls] == [code, code, "labels"]


def test_a_slow_answer_times_out_and_is_retried(start_bot, fake_slack, aws_env):
    aws_env.slow_next(SLOW, times=2)
    bot = start_with_short_timeouts(start_bot)

    started = time.monotonic()
    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))
    [post] = fake_slack.wait_for_posts(1)

    assert post["text"].startswith("Cat 99.2%")
    assert [call.outcome for call in aws_env.calls] == ["slow", "slow", "labels"]
    assert time.monotonic() - started < SLOW  # two read timeouts, not even one slow answer


def test_a_dropped_connection_is_retried(start_bot, fake_slack, aws_env):
    aws_env.drop_next(times=2)
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    assert [call.outcome for call in aws_env.calls] == ["dropped", "dropped", "labels"]


def test_a_reply_whose_answer_slack_lost_is_found_in_the_thread_not_posted_twice(start_bot, fake_slack, aws_env):
    """Slack posted the reply but the connection closed before its answer: the client does not post it again; the
    reply sweep reads the thread, finds it (its metadata names the message) and records it."""
    bot = start_bot()
    fake_slack.lose_next_answer("chat.postMessage")
    event = file_share_event("C0001", [cat_file(fake_slack)])

    bot.post_event(event)
    fake_slack.wait_for_posts(1)
    wait_until(
        lambda: bot.services.stores.replies.reply_interrupted("C0001", event["ts"]), what="the post to count as unsure"
    )
    bot.services.pool.sweep_soon()  # as the 30-second reply sweep would
    fake_slack.wait_for_calls("conversations.replies")
    wait_until(lambda: bot.services.stores.replies.messages_ready_to_reply() == [], what="the reply to be recorded")
    time.sleep(0.3)

    [post] = fake_slack.posts()
    assert (post["thread_ts"], post["text"][:9]) == (event["ts"], "Cat 99.2%")
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(
    ("method", "error", "retried"),
    [
        ("chat.postMessage", URLError(ConnectionRefusedError()), True),  # never sent: safe
        ("chat.postMessage", URLError(socket.gaierror()), True),
        ("chat.postMessage", RemoteDisconnected(), False),  # sent; the answer was lost
        ("chat.postMessage", ConnectionResetError(), False),
        ("chat.postMessage", URLError(ConnectionResetError()), False),
        ("chat.postEphemeral", RemoteDisconnected(), False),
        ("reactions.add", RemoteDisconnected(), True),  # doing it twice changes nothing
        ("conversations.replies", URLError(ConnectionResetError()), True),
    ],
)
def test_the_client_retries_a_post_only_if_it_surely_never_reached_slack(method, error, retried):
    [handler] = [
        h
        for h in build_web_client("xoxb-t", "https://slack.com/api/").retry_handlers
        if isinstance(h, PostOnceConnectionRetryHandler)  # the bot's client uses it for every call
    ]
    request = HttpRequest(method="POST", url=f"https://slack.com/api/{method}", headers={})

    assert handler.can_retry(state=RetryState(), request=request, error=error) is retried


def throttle(aws_env) -> None:
    aws_env.fail_next("ThrottlingException", 400, times=MAX_ATTEMPTS)


def provisioned(aws_env) -> None:
    aws_env.fail_next("ProvisionedThroughputExceededException", 400, times=MAX_ATTEMPTS)


def unavailable(aws_env) -> None:
    aws_env.fail_next("ServiceUnavailableException", 503, times=MAX_ATTEMPTS)


def slow(aws_env) -> None:
    aws_env.slow_next(SLOW, times=MAX_ATTEMPTS)


def dropped(aws_env) -> None:
    aws_env.drop_next(times=MAX_ATTEMPTS)


@pytest.mark.parametrize(
    ("fault", "logged"),
    [
        (throttle, "ThrottlingException"),
        (provisioned, "ProvisionedThroughputExceededException"),
        (unavailable, "ServiceUnavailableException"),
        (slow, "ReadTimeoutError"),
        (dropped, "ConnectionClosedError"),
    ],
    ids=["throttled", "provisioned-throughput", "503", "slow", "dropped"],
)
def test_rekognition_failing_past_the_retries_gets_one_short_reply_and_a_failed_record(
    start_bot, fake_slack, aws_env, fast_backoff, caplog, fault, logged
):
    fault(aws_env)  # every attempt of the first image fails
    bot = start_with_short_timeouts(start_bot)
    event = file_share_event("C0001", [cat_file(fake_slack, "F1")])

    started = time.monotonic()
    bot.post_event(event)
    [post] = fake_slack.wait_for_posts(1)
    elapsed = time.monotonic() - started

    assert post["thread_ts"] == event["ts"]
    assert post["text"].startswith(BUSY_START) and "Rekognition" in post["text"]
    assert len(post["text"]) < 120 and "Exception" not in post["text"] and "Error" not in post["text"]
    assert len(aws_env.calls) == MAX_ATTEMPTS  # retried, then given up: bounded
    assert elapsed < 8
    # Recorded as failed, for the Home tab's "Couldn't label" and "Latest problems".
    summary = bot.services.stores.summary.labelling_summary(0)
    assert (summary.images_labelled, summary.images_failed) == (0, 1)
    [problem] = summary.recent_errors
    assert (problem.channel_id, problem.file_name, problem.reason) == ("C0001", "F1.jpg", post["text"])
    # And in the log: the cause, once, at WARNING.
    [warning] = records(caplog, logging.WARNING, "bot.rekognition")
    assert logged in warning.getMessage()

    # Rekognition is back: the next image is labelled, and the failed one got no second reply.
    bot.post_event(file_share_event("C0001", [cat_file(fake_slack, "F2")]))
    posts = fake_slack.wait_for_posts(2)
    assert posts[1]["text"].startswith("Cat 99.2%")
    time.sleep(0.3)
    assert len(fake_slack.posts()) == 2


# ---- Slack ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("statuses", [[500], [503], [503, 500]], ids=["500", "503", "503-500"])
def test_slack_server_errors_on_the_reply_are_retried(start_bot, fake_slack, aws_env, statuses):
    for status in statuses:
        fake_slack.fail_next("chat.postMessage", status=status, error="internal_error")
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    assert len(attempts(fake_slack, "chat.postMessage")) == len(statuses) + 1


def test_slack_server_errors_on_a_reaction_are_retried(start_bot, fake_slack, aws_env):
    fake_slack.fail_next("reactions.add", status=503, error="internal_error")
    bot = start_bot()
    bot.services.stores.settings.save_overrides("C0001", ChannelOverrides(tags=True))
    event = file_share_event("C0001", [cat_file(fake_slack)])

    bot.post_event(event)

    fake_slack.wait_for_posts(1)
    fake_slack.wait_for_calls("reactions.add", 1)
    assert fake_slack.reactions("C0001", event["ts"]) == ["cat"]
    assert len(attempts(fake_slack, "reactions.add")) == 2


def test_a_reply_slack_keeps_failing_is_posted_by_the_sweep(start_bot, fake_slack, aws_env, caplog):
    for _ in range(3):  # the first try and slack_sdk's two server-error retries
        fake_slack.fail_next("chat.postMessage", status=503, error="internal_error")
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))
    wait_until(lambda: records(caplog, logging.WARNING, "bot.pipeline", "sweep will try again"), what="the warning")
    assert fake_slack.posts() == []
    bot.services.pool.sweep_soon()  # instead of waiting 30 s for the next sweep

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    assert len(attempts(fake_slack, "chat.postMessage")) == 4


def test_a_rate_limit_asking_for_a_long_wait_is_not_waited_out_by_a_worker_nor_retried_before_it(
    start_bot, fake_slack, aws_env, caplog
):
    fake_slack.fail_next("chat.postMessage", status=429, error="ratelimited", headers={"Retry-After": "600"})
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)])

    started = time.monotonic()
    bot.post_event(event)
    wait_until(lambda: records(caplog, logging.WARNING, "bot.pipeline", "ratelimited"), what="the warning")

    assert time.monotonic() - started < 3  # no 10-minute sleep in a worker thread
    assert len(attempts(fake_slack, "chat.postMessage")) == 1
    bot.services.pipeline.post_reply("C0001", event["ts"])  # what the reply sweep does: the channel is held
    assert len(attempts(fake_slack, "chat.postMessage")) == 1
    pacer = bot.services.pipeline.pacer
    pacer.clock = lambda: time.monotonic() + 600  # the Retry-After has passed
    bot.services.pool.sweep_soon()
    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
def test_a_channel_the_bot_cannot_post_in_costs_one_attempt_and_one_log_line(
    start_bot, fake_slack, aws_env, caplog, error
):
    fake_slack.fail_next("chat.postMessage", error=error)
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))
    wait_until(lambda: records(caplog, logging.ERROR, "bot.pipeline"), what="the error line")
    bot.services.pool.sweep_soon()  # the sweep must not try again either
    time.sleep(1.0)

    assert len(attempts(fake_slack, "chat.postMessage")) == 1
    [line] = records(caplog, logging.ERROR)
    assert error in line.getMessage() and "C0001" in line.getMessage()
    assert bot.services.stores.replies.messages_ready_to_reply() == []
    assert bot.services.stores.queue.queue_stats().depth == 0
    assert not bot.services.pool.suspended  # the other channels go on
    bot.post_event(file_share_event("C0002", [cat_file(fake_slack, "F2")]))
    [post] = fake_slack.wait_for_posts(1)
    assert post["channel"] == "C0002"


@pytest.mark.parametrize(
    ("error", "first_file"),
    [("token_revoked", "with-url"), ("invalid_auth", "files-info")],
    ids=["token_revoked-on-chat.postMessage", "invalid_auth-on-files.info"],
)
def test_a_refused_token_stops_the_workers_until_a_restart_with_a_good_one(
    start_bot, fake_slack, aws_env, caplog, error, first_file
):
    bot = start_bot(LABELBOT_WORKERS="2")
    fake_slack.token_error = error  # the app was uninstalled, or its token revoked
    first = cat_file(fake_slack, "F1")
    if first_file == "files-info":  # Slack sent the file without details: the worker asks files.info first
        first = {"id": "F1", "file_access": "check_file_info"}
    events = [file_share_event("C0001", [first])]

    bot.post_event(events[0])
    wait_until(lambda: bot.services.pool.suspended, what="the pool to stop")
    for file_id in ("F2", "F3"):  # still acked and recorded, for the next process
        events.append(file_share_event("C0001", [cat_file(fake_slack, file_id)]))
        assert bot.post_event(events[-1]).status == 200
    calls = len(fake_slack.calls)
    time.sleep(1.5)

    assert len(fake_slack.calls) == calls  # no spinning: nothing more is tried
    assert fake_slack.posts() == []
    assert len(aws_env.calls) == (1 if first_file == "with-url" else 0)
    assert bot.services.stores.queue.queue_stats().depth == (2 if first_file == "with-url" else 3)
    [line] = records(caplog, logging.ERROR)
    message = line.getMessage()
    assert error in message and "stopped" in message and "SLACK_BOT_TOKEN" in message and "restart" in message

    bot.close()  # an admin fixes the token and restarts the bot
    fake_slack.token_error = None
    start_bot(LABELBOT_WORKERS="2")

    posts = fake_slack.wait_for_posts(3)
    assert sorted(p["thread_ts"] for p in posts) == sorted(e["ts"] for e in events)
    assert all(p["text"].startswith("Cat 99.2%") for p in posts)  # the first image too: not failed, just waited
    time.sleep(0.3)
    assert len(fake_slack.posts()) == 3


# ---- Overload ---------------------------------------------------------------------------------------------------


def test_past_the_queue_bound_new_images_get_a_busy_reply(start_bot, fake_slack, aws_env, caplog):
    aws_env.gate = threading.Event()  # Rekognition holds every call until the test opens it
    bot = start_bot(LABELBOT_MAX_QUEUE="2", LABELBOT_WORKERS="1")
    accepted = [file_share_event("C0001", [cat_file(fake_slack, f"F{n}")]) for n in (1, 2)]
    turned_away = [
        file_share_event("C0001", [cat_file(fake_slack, "F3")]),
        file_share_event("C0002", [cat_file(fake_slack, "F4"), cat_file(fake_slack, "F5")]),
    ]

    answers = [bot.post_event(event) for event in accepted + turned_away]
    retried = bot.post_event(turned_away[0], retry_num=1)  # Slack sending one again adds nothing

    assert all(a.status == 200 and a.seconds < 2 for a in [*answers, retried])  # the ack stays fast
    [busy] = fake_slack.wait_for_posts(1)  # C0002's at once; C0001's waits for the replies to earlier images
    assert (busy["thread_ts"], busy["text"]) == (turned_away[1]["ts"], BUSY)  # one line for its two images
    assert bot.services.stores.queue.queue_stats().depth == 2  # the bound held
    [warning] = records(caplog, logging.WARNING, "bot.overload")
    assert "LABELBOT_MAX_QUEUE=2" in warning.getMessage()

    aws_env.gate.set()
    posts = fake_slack.wait_for_posts(4)
    assert [p["thread_ts"] for p in posts[1:]] == [e["ts"] for e in (*accepted, turned_away[0])]  # message order
    assert all(p["text"].startswith("Cat 99.2%") for p in posts[1:3])
    assert posts[3]["text"] == BUSY
    assert len(aws_env.calls) == 1  # the same photo twice: one call; the turned-away ones never labelled
    summary = bot.services.stores.summary.labelling_summary(0)
    assert (summary.images_labelled, summary.images_failed) == (2, 3)
    assert {e.reason for e in summary.recent_errors} == {BUSY}

    # Room again: a new image is queued and labelled as usual.
    later = file_share_event("C0001", [cat_file(fake_slack, "F6")])
    bot.post_event(later)
    assert fake_slack.wait_for_posts(5)[4]["thread_ts"] == later["ts"]
    time.sleep(0.3)
    assert len(fake_slack.posts()) == 5


def test_every_outside_client_has_a_timeout(start_bot):
    """Slack's Web API (worker side and inside acks), the file downloader and Rekognition: none can hang a thread."""
    services = start_bot(start_workers=False).services
    slack_clients = [services.slack, services.people._slack]
    assert all(0 < client.timeout <= 30 for client in slack_clients)
    download_timeout = services.pipeline.downloader._http.connection_pool_kw["timeout"]
    assert 0 < download_timeout.connect_timeout <= 10 and 0 < download_timeout.read_timeout <= 30
    steps = {step.name: step for step in services.pipeline.analysis.steps}
    for client in (steps["labels"]._labeler._client, steps["moderation"]._moderator._client):
        config = client.meta.config
        assert 0 < config.connect_timeout <= 10 and 0 < config.read_timeout <= 30


def test_the_queue_bound_is_configured_and_checked(fake_slack, tmp_path):
    assert load_config(bot_environ(fake_slack, tmp_path), mode="http").max_queue == 1000
    assert load_config(bot_environ(fake_slack, tmp_path, LABELBOT_MAX_QUEUE="50"), mode="http").max_queue == 50
    for bad in ("0", "-5", "lots", "2000000"):
        with pytest.raises(ConfigError, match="LABELBOT_MAX_QUEUE"):
            load_config(bot_environ(fake_slack, tmp_path, LABELBOT_MAX_QUEUE=bad), mode="http")


# ---- Malformed event payloads -----------------------------------------------------------------------------------


def share(**fields) -> dict:
    """A file_share message event with these fields replaced (None: left out)."""
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": "C0001",
        "user": "UALICE",
        "text": "",
        "ts": next_ts(),
        "files": [{"id": "F_CAT", "name": "cat.jpg", "mimetype": "image/jpeg", "filetype": "jpg"}],
        "channel_type": "channel",
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}


MALFORMED_FILE_SHARES = {
    "files-missing": share(files=None),
    "files-a-string": share(files="F_CAT"),
    "files-an-object": share(files={"id": "F_CAT"}),
    "file-without-id": share(files=[{"name": "cat.jpg", "mimetype": "image/jpeg", "filetype": "jpg"}]),
    "file-id-not-a-string": share(files=[{"id": 7, "mimetype": "image/jpeg"}]),
    "file-not-an-object": share(files=["F_CAT", None, 3]),
    "ts-missing": share(ts=None),
    "ts-a-number": share(ts=1700000000.5),
    "ts-not-a-timestamp": share(ts="yesterday"),
    "channel-missing": share(channel=None),
    "channel-not-a-string": share(channel={"id": "C0001"}),
    "files-missing-huge-text": share(files=None, text="x" * 1_000_000),
}
OTHER_EVENTS = {
    "bot_message": share(subtype="bot_message", bot_id="B0OTHER"),
    "message_changed": {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C0001",
        "ts": next_ts(),
        "message": share(),
    },
    "message_changed-message-a-string": {"type": "message", "subtype": "message_changed", "message": "x"},
    "thread_broadcast": share(subtype="thread_broadcast", thread_ts=next_ts()),
    "channel_join": share(subtype="channel_join", files=None),
    "subtype-a-list": share(subtype=["file_share"]),
    "huge-text": {"type": "message", "channel": "C0001", "user": "UALICE", "ts": next_ts(), "text": "x" * 1_000_000},
    "event-a-string": "message",
    "event-a-list": [share()],
    "event-null": None,
    "event-a-number": 42,
    "event-without-type": {k: v for k, v in share().items() if k != "type"},
    "event-type-a-number": share(type=3),
}


def test_malformed_file_shares_are_acked_ignored_and_logged_at_debug(start_bot, fake_slack, aws_env, caplog, subtests):
    caplog.set_level(logging.DEBUG, logger="bot.listeners.files")
    cat_file(fake_slack)  # the file exists: only the events are wrong
    bot = start_bot()

    for case, event in MALFORMED_FILE_SHARES.items():
        with subtests.test(case):
            before = len(records(caplog, logging.DEBUG, "bot.listeners.files", "ignoring"))

            answer = bot.post_event(event)

            assert answer.status == 200
            assert len(records(caplog, logging.DEBUG, "bot.listeners.files", "ignoring")) == before + 1
            assert table_counts(bot) == (0, 0)  # nothing recorded, nothing enqueued

    assert records(caplog, logging.WARNING) == records(caplog, logging.ERROR) == []
    time.sleep(0.3)
    assert (fake_slack.downloads(), fake_slack.posts(), aws_env.calls) == ([], [], [])


def test_other_and_malformed_events_are_acked_and_ignored(start_bot, fake_slack, aws_env, caplog, subtests):
    cat_file(fake_slack)
    bot = start_bot()

    for case, event in OTHER_EVENTS.items():
        with subtests.test(case):
            answer = bot.post_event(event)

            assert answer.status == 200
            assert table_counts(bot) == (0, 0)

    assert records(caplog, logging.WARNING) == records(caplog, logging.ERROR) == []
    time.sleep(0.3)
    assert (fake_slack.downloads(), fake_slack.posts(), aws_env.calls) == ([], [], [])


def test_a_malformed_event_still_needs_a_valid_signature(start_bot, fake_slack):
    bot = start_bot()

    assert bot.post_event("message", timestamp=int(time.time()) - 600).status == 401
    assert bot.post_event(None, secret="not-the-secret").status == 401


def test_a_real_image_with_a_huge_text_is_labelled_once(start_bot, fake_slack, aws_env):
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)], text="see this " * 110_000)  # about 1 MB

    assert bot.post_event(event).status == 200

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
