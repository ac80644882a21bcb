"""logs: whatever a library or a traceback prints, secrets never reach the log stream."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import warnings

import pytest

from bot.logs import RedactingFormatter, configure_logging, environment_secrets, redact


def format_record(message: str, *args, exc: Exception | None = None) -> str:
    formatter = RedactingFormatter("%(message)s", secrets=("my-signing-secret-123",))
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, message, args, None)
    if exc is not None:
        try:
            raise exc
        except Exception as raised:
            record.exc_info = (type(raised), raised, raised.__traceback__)
    return formatter.format(record)


def test_configured_secrets_and_token_shapes_are_redacted_in_messages_and_tracebacks():
    text = format_record(
        "headers %s",
        {"Authorization": "Bearer xoxb-123-456-abc", "app": "xapp-1-A1-2-ff"},
        exc=ValueError("signing secret was my-signing-secret-123"),
    )
    assert "xoxb-123-456-abc" not in text and "xapp-1-A1-2-ff" not in text
    assert "my-signing-secret-123" not in text
    assert "xoxb-[redacted]" in text and "[redacted]" in text
    assert "ValueError" in text  # the traceback itself is kept


# ------------------------------------------------------------------------------------------ LOG_FORMAT=json


@pytest.fixture
def restore_logging():
    """configure_logging changes process-wide state; put it back for the tests after this one."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook, threading.excepthook)
    noisy = {name: logging.getLogger(name).level for name in ("botocore", "boto3", "urllib3")}
    yield
    root.handlers[:], root.level, sys.excepthook, threading.excepthook = saved
    for name, level in noisy.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


def configured(monkeypatch, log_format: str, secrets: tuple[str, ...] = ()) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO", secrets, log_format)
    return stream


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_time_level_logger_message_and_the_records_fields(monkeypatch, restore_logging):
    stream = configured(monkeypatch, "json")

    logging.getLogger("bot.pipeline").info("job %d done", 7, extra={"fields": {"job_id": 7, "width": None}})
    logging.getLogger("slack_bolt.App").warning("plain")

    job, plain = json_lines(stream)
    assert list(job) == ["time", "level", "logger", "message", "job_id", "width"]
    assert (job["level"], job["logger"], job["message"], job["job_id"], job["width"]) == (
        "INFO",
        "bot.pipeline",
        "job 7 done",
        7,
        None,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", job["time"])
    assert (plain["level"], plain["message"]) == ("WARNING", "plain")


def test_fields_cannot_overwrite_the_core_keys(monkeypatch, restore_logging):
    stream = configured(monkeypatch, "json")

    logging.getLogger("x").info("real", extra={"fields": {"message": "forged", "level": "DEBUG", "other": 1}})

    [entry] = json_lines(stream)
    assert (entry["message"], entry["level"], entry["other"]) == ("real", "INFO", 1)


def test_in_json_secrets_are_redacted_in_messages_fields_and_tracebacks_even_where_json_escapes_them(
    monkeypatch, restore_logging
):
    tricky = 'pa"ss\\word-0123'  # JSON writes it as pa\"ss\\\\word-0123: redacting only the line would miss it
    stream = configured(monkeypatch, "json", secrets=("my-signing-secret-123", tricky))

    try:
        raise ValueError(f"secret was my-signing-secret-123 and {tricky}")
    except ValueError:
        logging.getLogger("x").exception(
            "token xoxb-123-456-abc, %s", tricky, extra={"fields": {"header": "Bearer xapp-1-A1-2-ff", "n": [tricky]}}
        )

    text = stream.getvalue()
    [entry] = json_lines(stream)
    for leaked in ("xoxb-123-456-abc", "xapp-1-A1-2-ff", "my-signing-secret-123", tricky, json.dumps(tricky)[1:-1]):
        assert leaked not in text
    assert entry["message"] == "token xoxb-[redacted], [redacted]"
    assert (entry["header"], entry["n"]) == ("Bearer xapp-[redacted]", ["[redacted]"])
    assert "ValueError: secret was [redacted] and [redacted]" in entry["exception"]


def test_text_stays_the_default_human_readable_format(monkeypatch, restore_logging):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO", ("my-signing-secret-123",))

    logging.getLogger("bot.pipeline").info("job 7 uses my-signing-secret-123", extra={"fields": {"job_id": 7}})

    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO bot\.pipeline: job 7 uses \[redacted\]\n", stream.getvalue()
    )


def test_warnings_and_uncaught_exceptions_in_threads_become_log_lines_too(monkeypatch, restore_logging):
    stream = configured(monkeypatch, "json", secrets=("my-signing-secret-123",))

    warnings.warn("Corrupt EXIF data", UserWarning, stacklevel=1)

    def crash() -> None:
        raise RuntimeError("boom with my-signing-secret-123")

    thread = threading.Thread(target=crash, name="worker-9")
    thread.start()
    thread.join()

    warning, crashed = json_lines(stream)
    assert (warning["level"], warning["logger"]) == ("WARNING", "py.warnings")
    assert "Corrupt EXIF data" in warning["message"]
    assert (crashed["level"], crashed["message"]) == ("ERROR", "uncaught exception in thread worker-9")
    assert "RuntimeError: boom with [redacted]" in crashed["exception"]


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="log_format"):
        configure_logging("INFO", (), "xml")


def test_the_aws_secrets_in_the_environment_are_listed_for_redaction():
    environ = {"AWS_SECRET_ACCESS_KEY": "abc12345678", "AWS_SESSION_TOKEN": " ", "AWS_ACCESS_KEY_ID": "AKID"}
    assert environment_secrets(environ) == ("abc12345678",)


def test_token_rotations_refresh_and_rotated_tokens_are_redacted_too():
    text = redact("refresh xoxe-1-My0xNzk2NzAwOTE4LTEyMw then xoxe.xoxb-1-MS0yLTMtNA and xoxb-1-2-abc", ())
    assert text == "refresh xoxe-[redacted] then xoxe.xoxb-[redacted] and xoxb-[redacted]"
