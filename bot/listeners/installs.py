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
        if (key := uninstalled(services, event)) is None:
            return
        assert services.workspaces is not None  # uninstalled: many workspaces
        services.stores.installations.delete_install(key)  # from now on Slack's requests for it are ignored
        services.workspaces.forget(key)
        log.info("labelbot was uninstalled from %s (%s): its token is deleted", key, event.get("type"))

    def forget_records(event: dict) -> None:
        if (key := uninstalled(services, event)) is not None:
            forget_install(services, key)

    for event_type in ("app_uninstalled", "tokens_revoked"):
        app.event(event_type)(ack=forget_token, lazy=[forget_records])


def uninstalled(services: Services, event: dict) -> str | None:
    """The install the event uninstalls (many workspaces): app_uninstalled, or tokens_revoked naming a bot token
    (labelbot keeps no user token); None for any other event, or with one workspace."""
    key = current()
    if services.workspaces is None or not key:
        return None
    tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
    return key if event.get("type") == "app_uninstalled" or tokens.get("bot") else None


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
