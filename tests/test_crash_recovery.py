"""Crash and restart: every image answered exactly once across SIGKILL, and SIGTERM drains.

The crash tests run the real bot (`python -m bot http`, gunicorn arbiter and worker) in its own process group
against the loopback fakes in this process, kill the whole group with SIGKILL mid-burst (a lost machine or an
OOM kill: nothing runs after it), start the bot again on the same LABELBOT_DB and redeliver the events whose ack
never came back (as Slack does), then count the bot's replies per message and per thread.
"""

from __future__ import annotations

import contextlib
import http.client
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.reply_thread import find_posted_reply
from bot.serve import GUNICORN_GRACE_SECONDS
from bot.store.sqlite import open_sqlite_stores
from tests.bot_processes import APP_TOKEN, BotProcess
from tests.conftest import BOT_TOKEN, fixture_bytes, slack_rate_limits
from tests.fakes.socket_mode import FakeSocketModeServer
from tests.slack_requests import SIGNING_SECRET, envelope, file_share_event, post_event

CAT = fixture_bytes("cat.jpg")


class ProcessDied(BaseException):
    """Stands for the process dying at that point (nothing after it runs, no handler catches it)."""


# ---- the reply check itself, in process ------------------------------------------------------------------------


def _die(*args, **kwargs):
    raise ProcessDied


def _reply_state(db_path: Path, channel: str, message_ts: str) -> tuple[str, str | None, int]:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return db.execute(
            "SELECT reply_state, reply_ts, reply_interrupted FROM messages WHERE channel_id=? AND message_ts=?",
            (channel, message_ts),
        ).fetchone()


def _die_while_posting(bot, fake_slack, *, before_slack: bool) -> dict:
    """One image message whose reply claim is interrupted: after Slack posted it (before_slack=False) or before
    the request left (True). Returns the event."""
    store, pipeline = bot.services.stores, bot.services.pipeline
    photo = fake_slack.add_file("F1", CAT, "cat.jpg", "image/jpeg", "jpg")
    event = file_share_event("C0001", [photo])
    assert bot.post_event(event).status == 200
    job = store.queue.claim_job()
    if before_slack:
        pipeline.slack.chat_postMessage = _die  # instance attribute: shadows the method until deleted
    else:
        store.replies.mark_replied = _die
    try:
        with pytest.raises(ProcessDied):
            pipeline.run_job(job)
    finally:
        if before_slack:
            del pipeline.slack.chat_postMessage
        else:
            del store.replies.mark_replied
    assert _reply_state(Path(bot.config.db_path), "C0001", event["ts"])[0] == "posting"
    return event


def test_a_reply_posted_just_before_a_crash_is_found_in_the_thread_and_not_posted_again(start_bot, fake_slack):
    bot = start_bot(start_workers=False)
    event = _die_while_posting(bot, fake_slack, before_slack=False)
    [posted] = fake_slack.posts()

    bot.services.stores.queue.requeue_interrupted()  # what the next start does
    bot.services.stores.replies.requeue_interrupted()
    assert _reply_state(Path(bot.config.db_path), "C0001", event["ts"]) == ("waiting", None, 1)
    bot.services.pipeline.post_reply("C0001", event["ts"])

    assert fake_slack.posts() == [posted]
    [lookup] = fake_slack.calls_to("conversations.replies")
    assert (lookup["channel"], lookup["ts"], lookup["include_all_metadata"]) == ("C0001", event["ts"], "1")
    [in_thread] = fake_slack.thread_messages
    assert _reply_state(Path(bot.config.db_path), "C0001", event["ts"])[:2] == ("posted", in_thread["ts"])
    assert bot.services.stores.replies.messages_ready_to_reply() == []


def test_an_interrupted_reply_that_never_reached_slack_is_posted_once(start_bot, fake_slack):
    bot = start_bot(start_workers=False)
    event = _die_while_posting(bot, fake_slack, before_slack=True)
    assert fake_slack.posts() == []

    bot.services.stores.queue.requeue_interrupted()
    bot.services.stores.replies.requeue_interrupted()
    bot.services.pipeline.post_reply("C0001", event["ts"])
    bot.services.pipeline.post_reply("C0001", event["ts"])

    [reply] = fake_slack.posts()
    assert (reply["thread_ts"], reply["text"][:9]) == (event["ts"], "Cat 99.2%")
    assert reply["metadata"] == {"event_type": "labelbot_reply", "event_payload": {"message_ts": event["ts"]}}
    assert len(fake_slack.calls_to("conversations.replies")) == 1
    assert _reply_state(Path(bot.config.db_path), "C0001", event["ts"])[0] == "posted"


def test_another_messages_reply_in_the_same_thread_is_not_taken_for_this_one(start_bot, fake_slack):
    bot = start_bot(start_workers=False)
    parent = file_share_event("C0001", [fake_slack.add_file("F0", CAT, "first.jpg", "image/jpeg", "jpg")])
    bot.post_event(parent)
    bot.services.pipeline.run_job(bot.services.stores.queue.claim_job())  # answered normally: a reply in the thread
    store, pipeline = bot.services.stores, bot.services.pipeline
    event = file_share_event(
        "C0001", [fake_slack.add_file("F1", CAT, "second.jpg", "image/jpeg", "jpg")], thread_ts=parent["ts"]
    )
    bot.post_event(event)
    job = store.queue.claim_job()
    pipeline.slack.chat_postMessage = _die
    try:
        with pytest.raises(ProcessDied):
            pipeline.run_job(job)
    finally:
        del pipeline.slack.chat_postMessage

    store.queue.requeue_interrupted()
    store.replies.requeue_interrupted()
    pipeline.post_reply("C0001", event["ts"])

    posts = fake_slack.posts()
    assert [p["metadata"]["event_payload"]["message_ts"] for p in posts] == [parent["ts"], event["ts"]]
    assert {p["thread_ts"] for p in posts} == {parent["ts"]}


def test_the_reply_is_found_on_a_later_page_of_a_long_thread(start_bot, fake_slack):
    bot = start_bot(start_workers=False)
    chatter = [
        {"type": "message", "channel": "C0001", "ts": f"2.{i:06d}", "thread_ts": "1.000001", "text": "hi"}
        for i in range(450)
    ]
    ours = {
        **chatter[0],
        "ts": "3.000001",
        "bot_id": "BBOT",
        "metadata": {"event_type": "labelbot_reply", "event_payload": {"message_ts": "1.000002"}},
    }
    fake_slack.thread_messages.extend([*chatter, ours])

    found = find_posted_reply(bot.services.slack, "C0001", "1.000001", "1.000002")

    assert found == "3.000001"
    assert [c.get("cursor") for c in fake_slack.calls_to("conversations.replies")] == [None, "200", "400"]
    assert find_posted_reply(bot.services.slack, "C0001", "1.000001", "1.000003") is None


def test_a_failed_thread_read_leaves_the_reply_to_the_sweep(start_bot, fake_slack):
    bot = start_bot(start_workers=False)
    event = _die_while_posting(bot, fake_slack, before_slack=False)
    bot.services.stores.queue.requeue_interrupted()
    bot.services.stores.replies.requeue_interrupted()
    fake_slack.fail_next("conversations.replies", error="internal_error")

    bot.services.pipeline.post_reply("C0001", event["ts"])
    assert _reply_state(Path(bot.config.db_path), "C0001", event["ts"]) == ("waiting", None, 1)
    assert bot.services.stores.replies.messages_ready_to_reply() == [("C0001", event["ts"])]

    bot.services.pipeline.post_reply("C0001", event["ts"])  # the sweep's next round
    assert len(fake_slack.posts()) == 1
    assert _reply_state(Path(bot.config.db_path), "C0001", event["ts"])[0] == "posted"


def test_replies_that_were_never_interrupted_do_not_read_the_thread(start_bot, fake_slack):
    bot = start_bot()
    for index in range(3):
        photo = fake_slack.add_file(f"F{index}", CAT, f"cat{index}.jpg", "image/jpeg", "jpg")
        bot.post_event(file_share_event("C0001", [photo]))

    posts = fake_slack.wait_for_posts(3)

    assert all(p["metadata"]["event_type"] == "labelbot_reply" for p in posts)
    assert fake_slack.calls_to("conversations.replies") == []


def test_a_database_from_before_the_interrupted_mark_gets_the_column(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE messages (channel_id TEXT NOT NULL, message_ts TEXT NOT NULL, thread_ts TEXT NOT NULL,"
            " reply_state TEXT NOT NULL DEFAULT 'waiting', reply_ts TEXT, created_at REAL NOT NULL,"
            " user_id TEXT NOT NULL DEFAULT '', channel_type TEXT NOT NULL DEFAULT '', deleted_at REAL,"
            " reply_deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (channel_id, message_ts))"
        )
        db.execute(
            "INSERT INTO messages (channel_id, message_ts, thread_ts, reply_state, created_at)"
            " VALUES ('C1', '1.1', '1.1', 'posting', 0)"
        )
    db.close()

    store = open_sqlite_stores(path)
    try:
        assert store.replies.reply_interrupted("C1", "1.1") is False
        store.queue.requeue_interrupted()
        store.replies.requeue_interrupted()
        assert store.replies.reply_interrupted("C1", "1.1") is True
        assert store.replies.messages_ready_to_reply() == [("C1", "1.1")]
    finally:
        store.close()


# ---- real processes ---------------------------------------------------------------------------------------------


@dataclass
class Message:
    event: dict
    thread_ts: str  # where its reply goes
    file_names: list[str]

    @property
    def key(self) -> tuple[str, str]:
        return self.event["channel"], self.event["ts"]


def _photo(file_id: str) -> bytes:
    """A distinct photo per file (bytes after the JPEG's end), so the label cache doesn't answer for it."""
    return CAT + file_id.encode()


def _burst(fake_slack, count: int = 18) -> list[Message]:
    """`count` image messages over three channels: every third with two images (24 images for 18 messages), and
    the last two posted in the threads of the second and third, so those threads get two replies each."""
    channels = ("C0001", "C0002", "C0003")
    messages: list[Message] = []
    for index in range(count):
        images = 2 if index % 3 == 0 else 1
        files = []
        for slot in range(images):
            file_id = f"F{index:02d}{slot}"
            files.append(fake_slack.add_file(file_id, _photo(file_id), f"photo-{file_id}.jpg", "image/jpeg", "jpg"))
        parent = messages[index - count + 3] if index >= count - 2 else None
        if parent is not None:
            event = file_share_event(parent.event["channel"], files, thread_ts=parent.event["ts"])
        else:
            event = file_share_event(channels[index % 3], files)
        messages.append(Message(event, event.get("thread_ts", event["ts"]), [f["name"] for f in files]))
    return messages


def _deliver(url: str, events: list[dict], unacked: list[dict], *, gap: float = 0.0, retry: int | None = None):
    """Send events as Slack does; those that get no 200 back (the bot died or was down) go to unacked."""
    for event in events:
        try:
            acked = post_event(url, event, retry_num=retry).status == 200
        except OSError:
            acked = False
        if not acked:
            unacked.append(event)
        if gap:
            time.sleep(gap)


def _db_counts(db_path: str) -> tuple[Counter, Counter]:
    """(jobs by state, messages by reply state)."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        jobs = Counter(dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()))
        replies = Counter(dict(db.execute("SELECT reply_state, COUNT(*) FROM messages GROUP BY reply_state")))
    return jobs, replies


def _replies_by_message(fake_slack) -> Counter:
    return Counter(
        (p["channel"], p["metadata"]["event_payload"]["message_ts"], p["thread_ts"]) for p in fake_slack.posts()
    )


def _wait_until(condition, timeout: float, message) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message())
        time.sleep(0.02)


# Where SIGKILL lands: "in_post" kills from inside the fake's chat.postMessage once that many replies are out,
# after Slack posted the reply and before the bot hears back, so the store still says "posting" (the window the
# thread check closes); "later" kills from the test a moment (the delay) after that many replies were posted,
# wherever the bot then is: downloading, in DetectLabels, between finishing a job and claiming its reply.
# A gap between events keeps them arriving while the bot dies: those never acked are redelivered after the restart.
KILL_POINTS = [
    pytest.param("in_post", 1, 0.0, 0.03, id="in-post-1-events-arriving"),
    pytest.param("later", 1, 0.02, 0.03, id="1st-reply+20ms-events-arriving"),
    pytest.param("in_post", 3, 0.0, 0.0, id="in-post-3"),
    pytest.param("later", 4, 0.05, 0.0, id="4th-reply+50ms"),
    pytest.param("in_post", 6, 0.0, 0.01, id="in-post-6-events-arriving"),
    pytest.param("later", 7, 0.08, 0.0, id="7th-reply+80ms"),
    pytest.param("in_post", 9, 0.0, 0.0, id="in-post-9"),
    pytest.param("later", 10, 0.01, 0.0, id="10th-reply+10ms"),
    pytest.param("in_post", 12, 0.0, 0.0, id="in-post-12"),
    pytest.param("later", 13, 0.12, 0.0, id="13th-reply+120ms"),
]


@slack_rate_limits()  # the restarted bot reads the interrupted replies' threads (Tier 3) and posts the rest
@pytest.mark.parametrize(("how", "replies_before_kill", "delay", "gap"), KILL_POINTS)
def test_sigkill_mid_burst_then_restart_answers_every_image_exactly_once(
    bot_env, processes, fake_slack, aws_env, how, replies_before_kill, delay, gap
):
    aws_env.delay_seconds = 0.15  # keeps a few jobs in flight at any moment
    messages = _burst(fake_slack)
    first = processes(bot_env, "first")
    first.wait_ready()

    killed = threading.Event()
    kill_lock = threading.Lock()

    def kill_after_posting(method: str, args: dict) -> None:
        if method != "chat.postMessage" or killed.is_set() or len(fake_slack.posts()) < replies_before_kill:
            return
        with kill_lock:
            if not killed.is_set():
                first.kill()  # the answer to this post never reaches the bot
                killed.set()

    if how == "in_post":
        fake_slack.on_answer = kill_after_posting
    unacked: list[dict] = []
    sender = threading.Thread(
        target=_deliver, args=(first.events_url, [m.event for m in messages], unacked), kwargs={"gap": gap}
    )
    sender.start()
    if how == "later":
        fake_slack.wait_for_posts(replies_before_kill)
        time.sleep(delay)
        first.kill()
        killed.set()
    assert killed.wait(20), f"no kill after {len(fake_slack.posts())} replies:\n{first.output()}"
    fake_slack.on_answer = None
    sender.join(20)

    replied_before = len(fake_slack.posts())
    jobs, replies = _db_counts(bot_env["LABELBOT_DB"])
    assert replies_before_kill <= replied_before < len(messages)
    assert jobs["queued"] + jobs["running"] > 0  # mid-burst: work was left
    interrupted = replies["posting"]
    if how == "in_post":
        assert interrupted >= 1  # posted in Slack, not recorded: the window the thread check closes

    second = processes(bot_env, "second")
    second.wait_ready()
    redelivered: list[dict] = []
    _deliver(second.events_url, unacked, redelivered, retry=1)
    assert redelivered == []
    _wait_until(
        lambda: {(c, ts) for c, ts, _ in _replies_by_message(fake_slack)} >= {m.key for m in messages},
        20,
        lambda: f"not every message was answered:\n{second.output()}",
    )
    _wait_until(lambda: second.health()["queue_depth"] == 0, 10, lambda: second.output())
    code, _ = second.terminate()
    assert code == 0

    by_message = _replies_by_message(fake_slack)
    assert by_message == Counter({(m.event["channel"], m.event["ts"], m.thread_ts): 1 for m in messages})
    per_thread = Counter((p["channel"], p["thread_ts"]) for p in fake_slack.posts())
    assert per_thread == Counter((m.event["channel"], m.thread_ts) for m in messages)
    replies_text = {p["metadata"]["event_payload"]["message_ts"]: p["text"] for p in fake_slack.posts()}
    for message in messages:
        text = replies_text[message.event["ts"]]
        assert text.count("Cat 99.2%") == len(message.file_names)
        if len(message.file_names) > 1:
            assert all(name in text for name in message.file_names)
    jobs, replies = _db_counts(bot_env["LABELBOT_DB"])
    assert jobs == Counter({"done": 24}) and replies == Counter({"posted": len(messages)})
    # Only the replies whose claim the crash interrupted read their thread, once each.
    assert len(fake_slack.calls_to("conversations.replies")) == interrupted
    output = second.output()
    assert "Traceback" not in output
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output


# ---- SIGTERM drains ---------------------------------------------------------------------------------------------


def _one_image_messages(fake_slack, count: int, *, channels: int = 1) -> list[dict]:
    """With several channels, in turn: replies in one channel go out in order, a second apart."""
    return [
        file_share_event(
            f"C{i % channels + 1:04d}",
            [fake_slack.add_file(f"F{i:02d}", _photo(f"F{i:02d}"), f"photo{i}.jpg", "image/jpeg", "jpg")],
        )
        for i in range(count)
    ]


def _keep_alive(bot: BotProcess) -> http.client.HTTPConnection:
    """An HTTP/1.1 connection to the bot left open after one request."""
    connection = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=5)
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    response.read()
    assert response.getheader("Connection", "").lower() != "close"
    return connection


def _start_draining_bot(mode: str, env: dict, processes, fake_slack, events: list[dict]) -> BotProcess:
    """A bot in `mode` with every event recorded (acked) and its workers all busy."""
    if mode == "http":
        bot = processes(env, "draining")
        bot.wait_ready()
        unacked: list[dict] = []
        _deliver(bot.events_url, events, unacked)
        assert unacked == []
    else:
        socket_server = FakeSocketModeServer()
        fake_slack.socket_mode_url = socket_server.url
        bot = processes({**env, "SLACK_APP_TOKEN": APP_TOKEN}, "draining", mode)
        bot.socket_server = socket_server
        socket_server.wait_for_client(timeout=30)
        for envelope_id in [socket_server.send_event(envelope(event)) for event in events]:
            socket_server.wait_for_ack(envelope_id)
    workers = int(env["LABELBOT_WORKERS"])
    _wait_until(lambda: len(fake_slack.downloads()) >= workers, 10, lambda: bot.output())
    return bot


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_sigterm_lets_in_flight_jobs_finish_claims_no_more_and_exits_0(mode, bot_env, processes, fake_slack, aws_env):
    aws_env.delay_seconds = 3.0  # a slow Rekognition: every call takes 3 s
    env = {**bot_env, "LABELBOT_WORKERS": "3"}
    events = _one_image_messages(fake_slack, 8, channels=8)  # replies in one channel would wait for earlier ones
    bot = _start_draining_bot(mode, env, processes, fake_slack, events)
    # SIGTERM just before the three calls answer: a worker that then went on would claim a fourth job. In HTTP
    # mode a connection kept alive (as Slack's and load balancers' are) holds gunicorn's worker up to 2 s longer.
    time.sleep(2.5)
    kept_alive = _keep_alive(bot) if mode == "http" else None

    code, seconds = bot.terminate()

    output = bot.output()
    assert code == 0, output
    assert seconds < 5, f"took {seconds:.1f} s"
    jobs, replies = _db_counts(env["LABELBOT_DB"])
    assert jobs == Counter({"done": 3, "queued": 5})  # the in-flight ones finished; nothing new was started
    assert replies == Counter({"posted": 3, "waiting": 5}), output
    assert len(aws_env.calls) == 3 and len(fake_slack.posts()) == 3
    assert "Traceback" not in output
    if kept_alive is not None:
        kept_alive.close()

    aws_env.delay_seconds = 0.0
    again = processes(env, "after-drain")
    again.wait_ready()
    fake_slack.wait_for_posts(8)
    code, _ = again.terminate()
    assert code == 0
    assert Counter(p["thread_ts"] for p in fake_slack.posts()) == Counter(e["ts"] for e in events)


def test_sigterm_exits_within_the_drain_time_even_when_rekognition_never_answers(
    bot_env, processes, fake_slack, aws_env
):
    """The pool waits LABELBOT_DRAIN_SECONDS in all for in-flight jobs (20 by default; 3 here), inside gunicorn's
    graceful_timeout (5 s more): the process exits 0 in time and the unfinished jobs stay to be done after the
    restart."""
    aws_env.gate = threading.Event()  # closed: DetectLabels hangs (the fake gives up after 30 s)
    env = {**bot_env, "LABELBOT_WORKERS": "3", "LABELBOT_DRAIN_SECONDS": "3"}
    events = _one_image_messages(fake_slack, 5)
    bot = _start_draining_bot("http", env, processes, fake_slack, events)
    kept_alive = _keep_alive(bot)

    code, seconds = bot.terminate()

    kept_alive.close()
    assert code == 0, bot.output()
    assert 2.5 < seconds < 3 + GUNICORN_GRACE_SECONDS, f"took {seconds:.1f} s"
    jobs, _ = _db_counts(env["LABELBOT_DB"])
    assert jobs == Counter({"running": 3, "queued": 2})  # requeued at the next start
    assert fake_slack.posts() == []

    aws_env.gate.set()
    again = processes(env, "after-drain")
    again.wait_ready()
    fake_slack.wait_for_posts(5)
    code, _ = again.terminate()
    assert code == 0
    assert Counter(p["thread_ts"] for p in fake_slack.posts()) == Counter(e["ts"] for e in events)
