"""Labelling runs in a process of its own beside the one that acks (bot.labelling_process).

The real bot (`python -m bot http|socket`) in its own process group against the loopback fakes: the labelling
process is the web worker's child; acks and recording go on while it is stopped; when it dies another takes its
place and every image is still answered once; when its parent dies it stops by itself.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest

from bot.labelling_process import MAX_WAKE_BYTES, LabellingProcess
from tests.bot_processes import APP_TOKEN, command_line, living_members, parent_pid
from tests.conftest import fixture_bytes
from tests.fakes.socket_mode import FakeSocketModeServer
from tests.slack_requests import file_share_event, post_event

CAT = fixture_bytes("cat.jpg")


def _image_events(fake_slack, prefix: str, count: int, channels: int = 3) -> list[dict]:
    """count one-image messages over `channels` channels, each photo distinct (so none is answered from the cache)."""
    events = []
    for index in range(count):
        file_id = f"F{prefix}{index:03d}"
        photo = fake_slack.add_file(file_id, CAT + file_id.encode(), f"{file_id}.jpg", "image/jpeg", "jpg")
        events.append(file_share_event(f"C000{index % channels + 1}", [photo]))
    return events


def _replies(fake_slack) -> Counter:
    return Counter((post["channel"], post["thread_ts"]) for post in fake_slack.posts() if "thread_ts" in post)


def _wait_until(condition, timeout: float, describe) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, describe()
        time.sleep(0.05)


def _answered_once(fake_slack, events: list[dict], timeout: float = 30) -> None:
    wanted = {(event["channel"], event["ts"]) for event in events}
    _wait_until(
        lambda: wanted <= set(_replies(fake_slack)),
        timeout,
        lambda: f"unanswered: {wanted - set(_replies(fake_slack))}",
    )
    time.sleep(0.5)  # a second reply would come about now
    replies = _replies(fake_slack)
    assert {key: replies[key] for key in wanted} == dict.fromkeys(wanted, 1)


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_labelling_runs_in_a_child_of_the_process_that_answers_slack(mode, bot_env, processes, fake_slack):
    if mode == "socket":
        socket_server = FakeSocketModeServer()
        fake_slack.socket_mode_url = socket_server.url
        bot = processes({**bot_env, "SLACK_APP_TOKEN": APP_TOKEN}, "bot", mode)
        bot.socket_server = socket_server
        socket_server.wait_for_client(timeout=30)
    else:
        bot = processes(bot_env, "bot")
        bot.wait_ready()

    labelling = bot.wait_for_labelling_process()

    web = parent_pid(labelling)
    assert "bot.labelling_process" in command_line(labelling) and f"--mode {mode}" in command_line(labelling)
    if mode == "http":  # gunicorn's worker, itself the arbiter's child
        assert web != bot.popen.pid and parent_pid(web) == bot.popen.pid
    else:
        assert web == bot.popen.pid
    assert bot.labelling_pids() == [labelling]
    environ = Path(f"/proc/{labelling}/environ").read_bytes().split(b"\0")
    assert b"MALLOC_MMAP_THRESHOLD_=131072" in environ  # large buffers go back to the system when freed
    assert f"SLACK_BOT_TOKEN={bot_env['SLACK_BOT_TOKEN']}".encode() in environ  # the parent's environment


def test_acks_and_recording_go_on_while_the_labelling_process_is_stopped(bot_env, processes, fake_slack):
    bot = processes(bot_env, "bot")
    bot.wait_ready()
    labelling = bot.wait_for_labelling_process()
    events = _image_events(fake_slack, "S", 30, channels=10)  # 3 a channel: Slack takes a post a second in each

    os.kill(labelling, signal.SIGSTOP)
    try:
        statuses = [post_event(bot.events_url, event).status for event in events]
        depth = bot.health()["queue_depth"]
        time.sleep(0.5)
        posted_while_stopped = len(fake_slack.posts())
    finally:
        os.kill(labelling, signal.SIGCONT)

    assert statuses == [200] * 30
    assert depth == 30
    assert posted_while_stopped == 0
    _answered_once(fake_slack, events)
    for channel in {event["channel"] for event in events}:  # each channel's replies in its messages' order
        answered = [p["thread_ts"] for p in fake_slack.posts() if p["channel"] == channel and "thread_ts" in p]
        assert answered == sorted(answered)


def test_a_labelling_process_killed_mid_call_is_replaced_and_every_image_answered_once(
    bot_env, processes, fake_slack, aws_env
):
    aws_env.gate = threading.Event()  # every DetectLabels call waits here: the jobs are in flight when it dies
    bot = processes(bot_env, "bot")
    bot.wait_ready()
    first = bot.wait_for_labelling_process()
    events = _image_events(fake_slack, "K", 6)
    for event in events:
        assert post_event(bot.events_url, event).status == 200
    _wait_until(lambda: aws_env.at_gate >= 4, 15, lambda: f"calls in flight: {aws_env.at_gate}")

    os.kill(first, signal.SIGKILL)
    second = bot.wait_for_labelling_process(other_than=first)
    aws_env.gate.set()  # the dead process's calls are answered into closed connections

    _answered_once(fake_slack, events)
    assert bot.labelling_pids() == [second]
    output = bot.output()
    assert f"the labelling process {first} exited (killed by SIGKILL)" in output
    assert "Traceback" not in output
    later = _image_events(fake_slack, "L", 2)
    for event in later:
        assert post_event(bot.events_url, event).status == 200
    _answered_once(fake_slack, later)


def test_when_its_parent_dies_the_labelling_process_stops_and_the_next_worker_starts_another(
    bot_env, processes, fake_slack
):
    bot = processes(bot_env, "bot")
    bot.wait_ready()
    first = bot.wait_for_labelling_process()
    web = parent_pid(first)

    os.kill(web, signal.SIGKILL)  # gunicorn's worker: the arbiter starts another

    _wait_until(lambda: first not in living_members(bot.popen.pid), 25, lambda: "the orphan labelling process lived on")
    second = bot.wait_for_labelling_process(other_than=first)
    assert parent_pid(second) not in (web, bot.popen.pid)
    bot.wait_ready()
    events = _image_events(fake_slack, "P", 3)
    for event in events:
        assert post_event(bot.events_url, event).status == 200
    _answered_once(fake_slack, events)


def test_health_says_starting_until_the_labelling_processs_workers_run(bot_env, processes, fake_slack):
    """The acks answer as soon as the web worker runs; the labelling process takes half a second more to import and
    start its workers (here it is stopped as soon as it appears): /healthz says so, still 200, and images are
    recorded meanwhile."""
    bot = processes(bot_env, "bot")
    labelling = bot.wait_for_labelling_process()
    os.kill(labelling, signal.SIGSTOP)
    try:
        _wait_until(lambda: _health_or_none(bot) is not None, 30, bot.output)
        [event] = _image_events(fake_slack, "S", 1)
        assert post_event(bot.events_url, event).status == 200
        health = bot.health()
        assert (health["status"], health["labelling"], health["queue_depth"]) == ("starting", "starting", 1)
    finally:
        os.kill(labelling, signal.SIGCONT)

    bot.wait_ready()
    assert (bot.health()["status"], bot.health()["labelling"]) == ("ok", "running")
    _answered_once(fake_slack, [event])


def _health_or_none(bot) -> dict | None:
    try:
        return bot.health()
    except OSError:
        return None


def test_a_refused_token_stops_the_labelling_process_for_good_and_health_says_so(bot_env, processes, fake_slack):
    bot = processes(bot_env, "bot")
    bot.wait_ready()
    labelling = bot.wait_for_labelling_process()
    bot.wait_for_output("started 4 workers")  # the labelling process's start-up calls to Slack are done
    assert (bot.health()["status"], bot.health()["labelling"]) == ("ok", "running")
    fake_slack.token_error = "token_revoked"
    events = _image_events(fake_slack, "T", 3)

    assert post_event(bot.events_url, events[0]).status == 200  # its reply is refused: the token is revoked
    _wait_until(lambda: labelling not in living_members(bot.popen.pid), 15, bot.output)
    for event in events[1:]:
        assert post_event(bot.events_url, event).status == 200  # still acked and recorded, for a restart
    time.sleep(1.5)  # a restart would come after 1 s

    assert bot.labelling_pids() == []
    health = bot.health()
    assert (health["status"], health["labelling"], health["queue_depth"]) == ("degraded", "suspended", 2)
    output = bot.output()
    assert output.count("Slack refused the bot token (token_revoked") == 1  # the one ERROR line, from the worker
    assert "Traceback" not in output and bot_env["SLACK_BOT_TOKEN"] not in output

    code, _ = bot.terminate()
    fake_slack.token_error = None  # an admin fixes the token and restarts the bot
    again = processes(bot_env, "again")
    again.wait_ready()

    assert code == 0
    _answered_once(fake_slack, events)


class _ExitingAtOnce:
    """Stands in for the labelling process's Popen: a process that has exited already (crashed at start)."""

    started: ClassVar[list[_ExitingAtOnce]] = []

    def __init__(self, args, **kwargs) -> None:
        self.pid = 4_000_000 + len(self.started)
        self.started.append(self)

    def wait(self, timeout=None) -> int:
        return 1

    def poll(self) -> int:
        return 1

    def kill(self) -> None:
        pass


@pytest.mark.parametrize("then", ["stop", "suspend"])
def test_no_labelling_process_is_started_once_the_parent_stops_or_the_token_was_refused(monkeypatch, caplog, then):
    """The process died; during the delay before the next one the parent stops (or Slack refuses the token): no
    new process is started, and stop() returns at once."""
    monkeypatch.setattr("bot.labelling_process.subprocess.Popen", _ExitingAtOnce)
    monkeypatch.setattr(_ExitingAtOnce, "started", [])
    work = LabellingProcess("http", restart_delays=(0.8,))
    work.start()
    time.sleep(0.7)  # it exited; the supervisor waits 0.5 s for a stopping parent, then 0.8 s before a restart
    assert len(_ExitingAtOnce.started) == 1 and work.state == "restarting"

    started = time.monotonic()
    if then == "stop":
        work.stop()
        assert time.monotonic() - started < 1
    else:
        work.suspend()
    time.sleep(1.2)

    assert len(_ExitingAtOnce.started) == 1
    assert work.state == ("stopped" if then == "stop" else "suspended")
    work.stop()


def test_a_full_wake_pipe_never_holds_up_an_ack():
    """The ack side writes a byte per job to the labelling process's pipe; one that isn't read (the process stopped,
    busy, or gone) fills up, and then the byte is dropped instead of waited for: the job is in the store anyway."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    work = LabellingProcess("http")
    work._wake_fd = write_fd  # as _spawn leaves it, with a process that never reads
    try:
        done = threading.Event()

        def flood() -> None:
            for _ in range(5_000):
                work.notify(MAX_WAKE_BYTES)  # 320 KB: five times what a Linux pipe holds
            work.sweep_soon()
            done.set()

        threading.Thread(target=flood, daemon=True).start()
        assert done.wait(10), "notify waited on a full pipe"
        assert len(os.read(read_fd, 1 << 20)) >= 4096  # it was filled, not closed
    finally:
        work._close_pipe()
        os.close(read_fd)
