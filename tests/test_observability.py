"""Observability: one structured line per job (id, channel, file, sizes, each stage's duration, outcome), as
human-readable text by default and as one JSON object per line with LOG_FORMAT=json, in the real process too."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest
from PIL import Image

from bot.config import ConfigError, load_config
from bot.logs import JsonFormatter
from tests.bot_processes import APP_TOKEN, free_port
from tests.conftest import BOT_TOKEN, fixture_bytes
from tests.fakes.socket_mode import FakeSocketModeServer
from tests.slack_requests import SIGNING_SECRET, envelope, file_share_event, post_command, post_event
from tests.test_entry_points import (
    process_env,  # noqa: F401  (a fixture)
    start_bot_process,
    stop,
    wait_for_health,
)

JOB_FIELDS = (
    "job_id",
    "channel",
    "file_id",
    "outcome",
    "downloaded_bytes",
    "prepared_bytes",
    "width",
    "height",
    "download_ms",
    "prepare_ms",
    "detect_ms",
    "post_ms",
    "text",
    "rekognition_calls",
    "total_ms",
)
STAGES = ("download_ms", "prepare_ms", "detect_ms", "post_ms")
AWS_SECRET_KEY = "test-aws-secret-key-0123456789"  # what conftest's aws_env sets


def job_lines(caplog, count: int, timeout: float = 10) -> list[logging.LogRecord]:
    """The pipeline's job lines once there are `count` (the line is written after the reply step)."""
    deadline = time.monotonic() + timeout
    while True:
        records = [r for r in caplog.records if r.name == "bot.pipeline" and hasattr(r, "fields")]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.02)


def test_a_labelled_image_logs_one_line_with_its_sizes_and_every_stages_duration(start_bot, fake_slack, caplog):
    caplog.set_level(logging.INFO)
    cat = fixture_bytes("cat.jpg")
    bot = start_bot()
    photo = fake_slack.add_file("F_CAT", cat, "cat.jpg", "image/jpeg", "jpg")

    bot.post_event(file_share_event("C0001", [photo]))
    fake_slack.wait_for_posts(1)

    [line] = job_lines(caplog, 1)
    time.sleep(0.2)
    assert len(job_lines(caplog, 1)) == 1  # one line per job
    fields = line.fields
    assert tuple(fields) == JOB_FIELDS
    assert (fields["channel"], fields["file_id"], fields["outcome"]) == ("C0001", "F_CAT", "labelled")
    assert isinstance(fields["job_id"], int)
    assert fields["downloaded_bytes"] == fields["prepared_bytes"] == len(cat)  # a JPEG within limits goes as is
    assert (fields["width"], fields["height"]) == (451, 300)
    for stage in STAGES:
        assert isinstance(fields[stage], float) and fields[stage] >= 0, stage
    assert fields["total_ms"] >= max(fields[stage] for stage in STAGES)
    assert line.levelname == "INFO"
    assert line.getMessage().startswith(
        f"job {fields['job_id']} channel=C0001 file_id=F_CAT outcome=labelled downloaded_bytes={len(cat)} "
        f"prepared_bytes={len(cat)} width=451 height=300 download_ms="
    )


def test_a_converted_image_logs_what_was_downloaded_and_what_was_sent(start_bot, fake_slack, caplog):
    caplog.set_level(logging.INFO)
    buffer = io.BytesIO()
    Image.open(io.BytesIO(fixture_bytes("cat.jpg"))).save(buffer, "HEIF")
    heic = buffer.getvalue()
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [fake_slack.add_file("F_HEIC", heic, "a.heic", "image/heic", "heic")]))

    [line] = job_lines(caplog, 1)
    assert line.fields["downloaded_bytes"] == len(heic)
    assert line.fields["prepared_bytes"] not in (None, len(heic))  # re-encoded as a JPEG
    assert (line.fields["width"], line.fields["height"]) == (451, 300)


def test_a_failed_image_logs_its_outcome_and_only_the_stages_that_ran(start_bot, fake_slack, aws_env, caplog):
    caplog.set_level(logging.INFO)
    broken = fixture_bytes("cat.jpg")[:4000]
    bot = start_bot()

    bot.post_event(file_share_event("C0001", [fake_slack.add_file("F_BAD", broken, "b.jpg", "image/jpeg", "jpg")]))

    [line] = job_lines(caplog, 1)
    fields = line.fields
    assert fields["outcome"] == "error"
    assert fields["error"] == "This image looks damaged or incomplete, so I couldn't read it."
    assert fields["downloaded_bytes"] == 4000
    assert fields["download_ms"] is not None and fields["prepare_ms"] is not None
    assert fields["prepared_bytes"] is fields["width"] is fields["height"] is fields["detect_ms"] is None
    assert "outcome=error downloaded_bytes=4000 prepared_bytes=- width=- height=- " in line.getMessage()
    assert "detect_ms=- post_ms=" in line.getMessage()
    assert aws_env.calls == []


def test_each_file_of_a_message_gets_its_own_line(start_bot, fake_slack, caplog):
    caplog.set_level(logging.INFO)
    bot = start_bot()
    files = [
        fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg"),
        fake_slack.add_file("F2", fixture_bytes("logo_alpha.png"), "logo.png", "image/png", "png"),
    ]

    bot.post_event(file_share_event("C0001", files))

    lines = job_lines(caplog, 2)
    assert sorted(line.fields["file_id"] for line in lines) == ["F1", "F2"]
    assert len({line.fields["job_id"] for line in lines}) == 2


def test_in_json_the_job_line_is_one_object_with_every_field_as_a_key(start_bot, fake_slack, caplog):
    caplog.set_level(logging.INFO)
    bot = start_bot()
    bot.post_event(
        file_share_event("C0001", [fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "c.jpg", "image/jpeg", "jpg")])
    )
    [record] = job_lines(caplog, 1)

    text = JsonFormatter().format(record)

    assert "\n" not in text
    entry = json.loads(text)
    assert list(entry)[:4] == ["time", "level", "logger", "message"]
    assert (entry["level"], entry["logger"]) == ("INFO", "bot.pipeline")
    assert entry["message"] == record.getMessage()
    assert {key: entry[key] for key in JOB_FIELDS} == record.fields


@pytest.mark.parametrize(("value", "expected"), [(None, "text"), ("text", "text"), ("json", "json"), ("JSON", "json")])
def test_log_format_is_text_by_default_or_json(value, expected):
    environ = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s"}
    if value is not None:
        environ["LOG_FORMAT"] = value
    assert load_config(environ).log_format == expected


def test_any_other_log_format_is_a_configuration_error_naming_the_variable():
    with pytest.raises(ConfigError, match=r"LOG_FORMAT must be text .* or json, got 'xml'"):
        load_config({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s", "LOG_FORMAT": "xml"})


# ------------------------------------------------------------------------------- the real process, at DEBUG


def secrets_in(output: str) -> list[str]:
    return [s for s in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, AWS_SECRET_KEY) if s in output]


def test_the_http_process_at_debug_in_json_writes_only_json_lines_and_no_secret(
    process_env,  # noqa: F811
    fake_slack,
    aws_env,
    tmp_path,
):
    port = free_port()
    env = {
        **process_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": APP_TOKEN,  # in the environment although `http` doesn't use it: it must not leak either
        "SLACK_API_URL": fake_slack.api_url,
        "PORT": str(port),
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": "json",
    }
    assert env["AWS_SECRET_ACCESS_KEY"] == AWS_SECRET_KEY
    process = start_bot_process(["http"], env, tmp_path)
    try:
        wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
        photo = fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
        assert post_event(f"http://127.0.0.1:{port}/slack/events", file_share_event("C0001", [photo])).status == 200
        assert post_command(f"http://127.0.0.1:{port}/slack/events", "max 9").status == 200
        fake_slack.wait_for_posts(2, timeout=30)  # the reply, and the change announced in the channel
        time.sleep(0.5)  # the job line follows the reply
    finally:
        code, output = stop(process)

    assert code == 0
    assert secrets_in(output) == []
    entries = []
    for line in output.splitlines():
        if line.strip():
            entry = json.loads(line)  # every line, gunicorn's and the libraries' included
            assert {"time", "level", "logger", "message"} <= entry.keys(), line
            entries.append(entry)
    assert len(entries) > 20 and any(e["level"] == "DEBUG" for e in entries)
    assert any(e["logger"].startswith("gunicorn") for e in entries)
    [job] = [e for e in entries if e["logger"] == "bot.pipeline" and "job_id" in e]
    assert set(JOB_FIELDS) <= job.keys()
    assert (job["channel"], job["file_id"], job["outcome"]) == ("C0001", "F1", "labelled")
    assert (job["width"], job["height"], job["downloaded_bytes"]) == (451, 300, len(fixture_bytes("cat.jpg")))


def test_the_socket_mode_process_at_debug_writes_text_lines_and_no_secret(
    process_env,  # noqa: F811
    fake_slack,
    aws_env,
    tmp_path,
):
    socket_server = FakeSocketModeServer()
    fake_slack.socket_mode_url = socket_server.url
    env = {
        **process_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,  # set although Socket Mode doesn't use it: it must not leak either
        "SLACK_API_URL": fake_slack.api_url,
        "LOG_LEVEL": "DEBUG",
    }
    process = start_bot_process([], env, tmp_path)
    try:
        socket_server.wait_for_client(timeout=30)
        photo = fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
        socket_server.wait_for_ack(socket_server.send_event(envelope(file_share_event("C0001", [photo]))))
        socket_server.wait_for_ack(
            socket_server.send_command(
                {"command": "/labels", "text": "max 9", "channel_id": "C0001", "user_id": "UALICE", "team_id": "T0001"}
            )
        )
        fake_slack.wait_for_posts(2, timeout=30)  # a new labelling process, at nice 10 on a busy machine
        time.sleep(0.5)
    finally:
        code, output = stop(process)
        socket_server.close()

    assert code == 0
    assert secrets_in(output) == []
    assert " DEBUG " in output
    assert not any(line.startswith("{") for line in output.splitlines())
    assert re.search(
        r" INFO bot\.pipeline: job \d+ channel=C0001 file_id=F1 outcome=labelled downloaded_bytes=\d+ "
        r"prepared_bytes=\d+ width=451 height=300 download_ms=[\d.]+ prepare_ms=[\d.]+ detect_ms=[\d.]+ "
        r"post_ms=[\d.]+ text=- rekognition_calls=1 total_ms=[\d.]+",
        output,
    ), output[-3000:]
