"""The /labels slash command: answered ephemerally within the ack; a change is also announced in the channel."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.permissions import DENIED
from bot.services import Services
from bot.settings import (
    HELP_TEXT,
    Change,
    CommandError,
    Find,
    ShowHelp,
    ShowStatus,
    ShowTags,
    announce_change,
    apply_change,
    check_change,
    confirm_change,
    describe_status,
    parse_command,
)

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    def answer(ack, command: dict) -> None:
        ack(response_type="ephemeral", text=run_labels_command(command, services))

    def announce(command: dict) -> None:
        """After the ack: one visible line in the channel, so everyone knows why the bot changed."""
        text = announcement_for(command, services)
        if text is None:
            return
        try:
            services.slack.chat_postMessage(channel=command["channel_id"], text=text)
        except SlackApiError as exc:  # e.g. not_in_channel: the change still holds
            log.info("could not announce a settings change in %s: %s", command["channel_id"], exc.response.get("error"))

    app.command("/labels")(ack=answer, lazy=[announce])


def run_labels_command(command: dict, services: Services) -> str:
    channel_id = command.get("channel_id", "")
    parsed = parse_command(command.get("text") or "")
    if isinstance(parsed, CommandError):
        return parsed.message + ("\n\n" + HELP_TEXT if parsed.show_help else "")
    if isinstance(parsed, ShowHelp):
        return HELP_TEXT
    if isinstance(parsed, ShowTags):
        return services.emoji_map.describe()
    if isinstance(parsed, Find):
        return services.search.answer(parsed, channel_id=channel_id, user_id=command.get("user_id", ""))
    overrides = services.store.get_overrides(channel_id)
    if isinstance(parsed, ShowStatus):
        return describe_status(overrides, services.defaults)
    if not services.permission.may_change(command.get("user_id", "")):
        return DENIED
    problem = check_change(overrides, parsed, services.defaults)
    if problem:
        return problem
    changed = apply_change(overrides, parsed, services.defaults)
    services.store.save_overrides(channel_id, changed)
    return confirm_change(parsed, changed.apply_to(services.defaults))


def announcement_for(command: dict, services: Services) -> str | None:
    """The channel line for a change that was applied; recomputed from the stored state (changes are idempotent)."""
    parsed = parse_command(command.get("text") or "")
    if not isinstance(parsed, Change) or not services.permission.may_change(command.get("user_id", "")):
        return None
    channel_id = command.get("channel_id", "")
    overrides = services.store.get_overrides(channel_id)
    if check_change(overrides, parsed, services.defaults):
        return None
    return announce_change(parsed, overrides.apply_to(services.defaults), command.get("user_id", ""))
