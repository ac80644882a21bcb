"""Logging set-up: one line per record, and no secret ever reaches a log handler."""

from __future__ import annotations

import logging
import re
import sys

TOKEN_PATTERN = re.compile(r"\b(xox[abposr]|xapp)-[A-Za-z0-9-]+")


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then removes the configured secrets and anything shaped like a Slack token,
    tracebacks included."""

    def __init__(self, fmt: str, secrets: tuple[str, ...]) -> None:
        super().__init__(fmt)
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    text = TOKEN_PATTERN.sub(r"\1-[redacted]", text)
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def configure_logging(level: str, secrets: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # boto's and urllib3's DEBUG lines are noise at our DEBUG; keep them at INFO.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
