"""build_app(config, services) -> the Bolt app with every listener registered. Nothing global, so tests build
as many apps as they like."""

from __future__ import annotations

from slack_bolt import App

from bot.config import Config
from bot.listeners import commands, files, home, shortcuts
from bot.services import Services


def build_app(config: Config, services: Services) -> App:
    app = App(
        client=services.slack,
        signing_secret=config.signing_secret or "",
        request_verification_enabled=not config.socket_mode,
        # Ack only after the listener has recorded the job: if the store write fails, Slack gets a 500 and retries.
        process_before_response=True,
    )
    files.register(app, services)
    commands.register(app, services)
    home.register(app, services)
    shortcuts.register(app, services)
    return app
