"""logs: whatever a library or a traceback prints, secrets never reach the log stream."""

from __future__ import annotations

import logging

from bot.logs import RedactingFormatter


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
