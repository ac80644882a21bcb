"""Logging set-up: one line per record, human-readable text or (LOG_FORMAT=json) one JSON object, and no secret
ever reaches a log handler."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

# Slack's tokens: bot (xoxb-), user (xoxp-), app (xapp-) and the others; with token rotation, refresh tokens (xoxe-)
# and rotated tokens (xoxe.xoxb-…: its xoxb- part matches).
TOKEN_PATTERN = re.compile(r"\b(xox[abposre]|xapp)-[A-Za-z0-9-]+")
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Secrets labelbot hands to a library without reading them (boto3's; the OAuth client secret, Bolt's), redacted all
# the same should a library ever log them.
SECRET_ENVIRONMENT = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "SLACK_CLIENT_SECRET")

log = logging.getLogger(__name__)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then removes the configured secrets and anything shaped like a Slack token,
    tracebacks included."""

    def __init__(self, fmt: str, secrets: tuple[str, ...]) -> None:
        super().__init__(fmt)
        self._secrets = _usable(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, then the keys of the record's
    `fields` (log.info(..., extra={"fields": {...}})) and any exception or stack text; secrets redacted."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = _usable(secrets)

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, object] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update({str(key): value for key, value in fields.items() if str(key) not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # Values first (a secret inside a string JSON escapes would no longer match), then the line itself.
        text = json.dumps(_redact_values(entry, self._secrets), ensure_ascii=False, default=str)
        return redact(text, self._secrets)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    text = TOKEN_PATTERN.sub(r"\1-[redacted]", text)
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def _redact_values(value: object, secrets: tuple[str, ...]) -> object:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {key: _redact_values(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_values(item, secrets) for item in value]
    return value


def _usable(secrets: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s for s in secrets if s and len(s) >= 8)


def environment_secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of SECRET_ENVIRONMENT that are set, for configure_logging to redact."""
    env = os.environ if environ is None else environ
    return tuple(value for name in SECRET_ENVIRONMENT if (value := env.get(name, "").strip()))


def configure_logging(level: str, secrets: tuple[str, ...] = (), log_format: str = "text") -> None:
    """Every record, from labelbot or a library, as one line on stderr: text, or a JSON object for "json".

    Python warnings (e.g. Pillow's about a damaged file) and uncaught exceptions in any thread are logged too,
    so they come out in the same format, redacted, instead of as raw multi-line text.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {LOG_FORMATS}, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if log_format == "json" else RedactingFormatter(TEXT_FORMAT, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # boto's and urllib3's DEBUG lines are noise at our DEBUG; keep them at INFO.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(exc_type, exc_value, traceback) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc_value, traceback)
        return
    log.critical("uncaught exception", exc_info=(exc_type, exc_value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    log.error("uncaught exception in thread %s", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
