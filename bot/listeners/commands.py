"""The /labels slash command: answered ephemerally, within the ack."""

from __future__ import annotations

from slack_bolt import App

from bot.settings import (
    HELP_TEXT,
    ChannelSettings,
    CommandError,
    SetMaxLabels,
    SetThreshold,
    ShowHelp,
    ShowStatus,
    apply_command,
    describe_status,
    format_percent,
    parse_command,
)
from bot.store import Store


def register(app: App, store: Store, defaults: ChannelSettings) -> None:
    @app.command("/labels")
    def answer_labels_command(ack, command: dict) -> None:
        ack(response_type="ephemeral", text=run_labels_command(command, store, defaults))


def run_labels_command(command: dict, store: Store, defaults: ChannelSettings) -> str:
    channel_id = command.get("channel_id", "")
    parsed = parse_command(command.get("text") or "")
    if isinstance(parsed, CommandError):
        return parsed.message
    if isinstance(parsed, ShowHelp):
        return HELP_TEXT
    overrides = store.get_overrides(channel_id)
    if isinstance(parsed, ShowStatus):
        return describe_status(overrides, defaults)
    store.save_overrides(channel_id, apply_command(overrides, parsed))
    if isinstance(parsed, SetThreshold):
        return f"Done: in this channel I'll show labels I'm at least {format_percent(parsed.value)} sure of."
    assert isinstance(parsed, SetMaxLabels)
    return f"Done: in this channel I'll show at most {parsed.value} labels per image."
