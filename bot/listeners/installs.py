"""Uninstalls (many workspaces): `app_uninstalled`, and `tokens_revoked` naming the bot's token. The ack deletes the
install's token at once, so Slack's later requests for it are ignored (bot.workspaces.WorkspaceAuthorize finds no
install); after the ack every record labelbot keeps for it is deleted, in both stores (bot.store's Uninstalls). The
other installs are untouched. With one workspace (SLACK_BOT_TOKEN) there is nothing to delete: Slack refusing the
token already stops the work (bot.services.stop_when_token_refused)."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.install_context import current
from bot.services import Services

log = logging.getLogger(__name__)

# A second pass this much later deletes what a job in flight at the uninstall wrote before it saw the install gone
# (bot.pipeline checks before and after each job), and what DynamoDB's by_install index listed late.
SECOND_PASS_SECONDS = 30.0


def register(app: App, services: Services) -> None:
    def forget_token(ack, event: dict) -> None:
        ack()
        key = current()
        if services.workspaces is None or not key or not revokes_the_bot(event):
            return
        services.stores.installations.delete_install(key)  # from now on Slack's requests for it are ignored
        services.workspaces.forget(key)
        log.info("labelbot was uninstalled from %s (%s): its token is deleted", key, event.get("type"))

    def forget_records(event: dict) -> None:
        key = current()
        if services.workspaces is None or not key or not revokes_the_bot(event):
            return
        forget_install(services, key)

    for event_type in ("app_uninstalled", "tokens_revoked"):
        app.event(event_type)(ack=forget_token, lazy=[forget_records])


def revokes_the_bot(event: dict) -> bool:
    """app_uninstalled, or tokens_revoked naming a bot token (labelbot keeps no user token)."""
    if event.get("type") == "app_uninstalled":
        return True
    tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
    return bool(tokens.get("bot"))


def forget_install(services: Services, key: str) -> dict[str, int]:
    """Delete every record of the install `key`, and SECOND_PASS_SECONDS later what was written meanwhile; neither
    once the workspace installed labelbot again (its new records are its own). Returns the counts of both passes
    together (logged)."""
    counts: dict[str, int] = {}
    for wait in (0.0, SECOND_PASS_SECONDS):
        services.stopped.wait(wait)  # a stopping bot does the second pass at once
        if services.stores.installations.find_bot_by_key(key) is not None:
            log.info("%s installed labelbot again: its new records stay", key)
            break
        for what, count in services.stores.uninstalls.forget_install(key).items():
            counts[what] = counts.get(what, 0) + count
    log.info(
        "deleted the records of the uninstalled %s: %s",
        key,
        ", ".join(f"{count} {what}" for what, count in sorted(counts.items()) if count) or "none",
    )
    return counts
